// What every `npm run bench` script shares: how a freshly built executable is made cold, where the
// token goes (tmpfs, as in the pod), how commands are timed side by side on a shared machine, and
// how resident memory is read and split. Figures only; nothing here passes or fails.
import { $ } from "bun";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Drops a file's pages from the page cache (posix_fadvise DONTNEED through GNU dd's
 * iflag=nocache; dirty pages are written first, or they could not be dropped). A binary that was
 * just written is wholly in the cache, so the kernel's fault-around maps far more of it into the
 * first process than a pod that pulled the image reads (about 5 MiB more resident); after this,
 * the warm-up runs bring in only the pages a run touches. Per file: nothing else's cache is touched.
 */
export async function evictFromPageCache(path: string): Promise<void> {
  await $`sync ${path}`.quiet();
  await $`dd if=${path} iflag=nocache count=0 status=none`.quiet();
}

/** How much of a file is in the page cache, in MiB (util-linux fincore), or undefined without fincore. */
export async function cachedMiB(path: string): Promise<number | undefined> {
  const out = await $`fincore --bytes --noheadings --output RES ${path}`.nothrow().quiet();
  if (out.exitCode !== 0) return undefined;
  return Number(out.stdout.toString().trim()) / 2 ** 20;
}

/** A private folder on tmpfs (/dev/shm), where the pod's token volume (an emptyDir, medium: Memory) lives. */
export function tmpfsFolder(prefix: string): string {
  const mounts = readFileSync("/proc/mounts", "utf8");
  if (!/^\S+ \/dev\/shm tmpfs /m.test(mounts)) throw new Error("/dev/shm is not a tmpfs here: the bench writes the token to tmpfs, as the pod does");
  return mkdtempSync(join("/dev/shm", prefix));
}

const LAUNCHER = join(import.meta.dir, "../../.cache/bench/launch");

/**
 * Compiles tests/bench/launch.c, which runs each timed command: a child spawned by this (Bun)
 * process would report this process's own peak RSS as its ru_maxrss (launch.c says why).
 */
export async function buildLauncher(): Promise<void> {
  mkdirSync(dirname(LAUNCHER), { recursive: true });
  const cc = await $`cc -O2 -o ${LAUNCHER} ${join(import.meta.dir, "launch.c")}`.nothrow().quiet();
  if (cc.exitCode !== 0) throw new Error(`cannot compile tests/bench/launch.c (${cc.stderr.toString().trim() || "no C compiler"}): install a C compiler (Debian: apt-get install gcc)`);
}

export interface Run {
  ms: number;
  /** peak resident memory of the process (getrusage's ru_maxrss), bytes */
  peakRss: number;
}

export interface Contender {
  name: string;
  cmd: string[];
  /** variables added to the run's environment */
  env?: Record<string, string>;
  /** called after each run: throws unless the run did its job (the token is on tmpfs) */
  check: (exitCode: number, stderr: string) => void;
  runs: Run[];
}

/**
 * Runs the contenders round-robin, `rounds` times after `warmups` rounds: on a machine shared
 * with other work the load drifts, and interleaving exposes every contender to the same drift, so
 * their ratio within one run holds better than their absolute figures.
 */
export async function interleave(contenders: Contender[], rounds: number, warmups: number, env: Record<string, string>, before?: () => void): Promise<void> {
  for (let round = 0; round < warmups + rounds; round++) {
    for (const c of contenders) {
      before?.();
      const proc = Bun.spawn([LAUNCHER, ...c.cmd], { env: { ...env, ...c.env }, stdout: "pipe", stderr: "pipe" });
      const [out, err, launched] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      const [ms, peakKiB, code] = out.trim().split(" ").map(Number);
      if (launched !== 0 || code === undefined) throw new Error(`launch ${c.cmd.join(" ")}: ${err}`);
      c.check(code, code === 0 ? "" : err);
      if (round >= warmups) c.runs.push({ ms: ms!, peakRss: peakKiB! * 1024 });
    }
  }
}

export const quantile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
};
export const median = (xs: number[]): number => quantile(xs, 0.5);
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/**
 * A live process's memory from /proc/PID/smaps_rollup, in bytes: resident (Rss), its anonymous
 * part (the heap, stacks: the process's own) and file part (pages of the executable and other
 * files it touched: clean, shared with every process mapping the same file, reclaimable under
 * pressure), and PSS (resident with shared pages divided among the processes sharing them).
 */
export function memoryOf(pid: number): { rss: number; anon: number; file: number; pss: number; pssAnon: number; pssFile: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  const rss = kb("Rss");
  const anon = kb("Anonymous");
  return { rss, anon, file: rss - anon, pss: kb("Pss"), pssAnon: kb("Pss_Anon"), pssFile: kb("Pss_File") };
}

/** Context switches of all of a process's threads so far: how often it woke up. */
export function wakeupsOf(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(m[1]);
  }
  return total;
}

/** One line per target: the figure, the target and whether this run met it. */
export function target(label: string, figure: string, met: boolean, goal: string): string {
  return `  ${met ? "met    " : "NOT MET"}  ${label}: ${figure}   (target ${goal})`;
}

export const fileMB = (path: string): string => (statSync(path).size / 1e6).toFixed(1);
