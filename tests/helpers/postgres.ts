// A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries
// (installed by ci/install-system-deps.sh), a fresh cluster in a temporary folder, listening on
// 127.0.0.1 on a free port with password (SCRAM) authentication, stopped and removed by stop().
//
// PostgreSQL refuses to run as root, so under root (CI, this machine) the server runs as `nobody`.
// It is started with a parent-death signal (setpriv --pdeathsig), so a test process killed
// outright takes its server with it; the folder such a process leaves (its pid is in `owner`) is
// removed by the next start.
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { freePort } from "./run.ts";

export interface PostgresServer {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  password: string;
  /** The cluster's folder (data/ inside), removed by stop(). */
  dir: string;
  /** Creates an empty database and returns its URL (one per test keeps tests apart). */
  createDatabase(name?: string): Promise<string>;
  /** pg_dump of one database (plain SQL), e.g. to search it for secrets. */
  dump(databaseUrl: string): Promise<string>;
  /**
   * Stops the server but keeps its cluster, so startServer() brings the same data back on the
   * same port. "fast" (default) disconnects clients and checkpoints, as `pg_ctl stop -m fast`;
   * "immediate" is a crash (`-m immediate`, SIGQUIT): the next start recovers from the WAL.
   */
  stopServer(mode?: "fast" | "immediate"): Promise<void>;
  /** Starts the stopped cluster again on the same port and waits until it answers. */
  startServer(): Promise<void>;
  /** stopServer() then startServer(): a PostgreSQL restart as an operator or a failover causes it. */
  restart(): Promise<void>;
  /** Stops the server (fast shutdown) and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

const PREFIX = "ghapp-pg-";

/** The newest installed PostgreSQL's bin folder, or an error saying how to install it. */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "postgres"))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/postgres): run `bash ci/install-system-deps.sh`, which installs Debian's postgresql package");
  return join(root, versions[0], "bin");
}

/** Runs as `nobody` when we are root (PostgreSQL's rule), else as ourselves. */
function asServerUser(cmd: string[]): string[] {
  if (process.getuid?.() !== 0) return cmd;
  return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--pdeathsig=TERM", ...cmd];
}

function serverIds(): { uid: number; gid: number } | null {
  return process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
};

/** Removes clusters whose test process is gone (it was killed; its server died with it). */
function removeStaleClusters(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const owner = Number(existsSync(join(dir, "owner")) ? readFileSync(join(dir, "owner"), "utf8") : NaN);
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) rmSync(dir, { recursive: true, force: true });
  }
}

async function run(cmd: string[], what: string, env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C.UTF-8", ...env } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${err.trim().slice(0, 2000)}`);
  return out;
}

export async function startPostgres(options: { fsync?: boolean } = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  removeStaleClusters();
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  const data = join(dir, "data");
  const password = randomBytes(18).toString("base64url");
  const ids = serverIds();
  writeFileSync(join(dir, "owner"), String(process.pid));
  writeFileSync(join(dir, "pwfile"), `${password}\n`, { mode: 0o600 });
  if (ids) {
    chownSync(dir, ids.uid, ids.gid);
    chownSync(join(dir, "pwfile"), ids.uid, ids.gid);
  }
  try {
    await run(
      asServerUser([join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", join(dir, "pwfile"), "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"]),
      "initdb",
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  rmSync(join(dir, "pwfile"));

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const launch = () => launchServer(bin, data, dir, port, options);
    const proc = launch();
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    const ready = await waitReady(url, proc);
    if (ready === true) return handle(dir, port, password, url, proc, launch);
    lastError = ready;
    proc.kill("SIGKILL");
    await proc.exited;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`PostgreSQL did not start: ${String(lastError)}`);
}

type ServerProcess = Bun.Subprocess<"ignore", "ignore", "pipe">;

function launchServer(bin: string, data: string, dir: string, port: number, options: { fsync?: boolean }): ServerProcess {
  const settings = [
    ["listen_addresses", "127.0.0.1"],
    ["port", String(port)],
    ["unix_socket_directories", dir],
    ["max_connections", "200"],
    ["fsync", options.fsync === false ? "off" : "on"],
    ["synchronous_commit", options.fsync === false ? "off" : "on"],
    ["full_page_writes", options.fsync === false ? "off" : "on"],
    ["log_min_messages", "warning"],
  ].flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  return Bun.spawn(asServerUser([join(bin, "postgres"), "-D", data, ...settings]), { stdout: "ignore", stderr: "pipe", env: { LC_ALL: "C.UTF-8" } });
}

async function waitReady(url: string, proc: ServerProcess): Promise<true | string> {
  const deadline = Date.now() + 30_000;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) return `the server exited: ${(await new Response(proc.stderr).text()).trim().slice(0, 2000)}`;
    const sql = new SQL(url, { max: 1, connectionTimeout: 2 });
    try {
      await sql`SELECT 1`;
      return true;
    } catch {
      await Bun.sleep(100);
    } finally {
      await sql.close().catch(() => {});
    }
  }
  return "not ready within 30 s";
}

function handle(dir: string, port: number, password: string, url: string, first: ServerProcess, launch: () => ServerProcess): PostgresServer {
  let stopped: Promise<void> | undefined;
  let count = 0;
  let proc: ServerProcess | undefined = first;
  // If the test process ends without stop() (an exception escaped), take the server along.
  const onExit = () => proc?.kill("SIGKILL");
  process.on("exit", onExit);
  const stopServer = async (mode: "fast" | "immediate" = "fast") => {
    const p = proc;
    if (!p) return;
    p.kill(mode === "fast" ? "SIGINT" : "SIGQUIT"); // fast: disconnect clients, no waiting for them
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    await p.exited;
    clearTimeout(timer);
    proc = undefined;
  };
  const startServer = async () => {
    if (proc) return;
    if (stopped) throw new Error("the PostgreSQL server was stopped for good (stop())");
    // The port was ours a moment ago; nothing else on this host binds it in between, normally.
    const p = launch();
    const ready = await waitReady(url, p);
    if (ready !== true) {
      p.kill("SIGKILL");
      await p.exited;
      throw new Error(`PostgreSQL did not start again on port ${port}: ${ready}`);
    }
    proc = p;
  };
  return {
    url,
    port,
    password,
    dir,
    stopServer,
    startServer,
    async restart() {
      await stopServer("fast");
      await startServer();
    },
    async createDatabase(name = `t${process.pid}_${++count}_${randomBytes(3).toString("hex")}`) {
      if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      const sql = new SQL(url, { max: 1 });
      try {
        await sql.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await sql.close();
      }
      return `postgres://postgres:${password}@127.0.0.1:${port}/${name}`;
    },
    async dump(databaseUrl) {
      // The password goes by environment, not argv.
      const target = new URL(databaseUrl);
      const password = decodeURIComponent(target.password);
      target.password = "";
      return run([join(postgresBinDir(), "pg_dump"), "--no-owner", target.href], "pg_dump", { PGPASSWORD: password });
    },
    stop() {
      stopped ??= (async () => {
        process.off("exit", onExit);
        await stopServer("fast");
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
