// Runs a command to completion and collects what it printed: the one way tests run the project's
// scripts and tools (helm, ci/*.sh, the simulator's CLI). The compiled generator has its own
// runner (generator.ts), which also times it and gives it only the environment a pod would.
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `timeoutMs`: kill it (SIGKILL) if it has not ended by then, so a hung process fails its test. */
export async function runCommand(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it; the listener is closed
 * at once), for a process under test to listen on.
 */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
