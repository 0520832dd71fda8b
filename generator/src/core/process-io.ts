// The process's own output and signals, the only IO an entry point's main() does not get injected
// by its caller. Tests pass their own; both executables use this one.
export interface ProcessIo {
  stdout: (text: string) => void;
  /** registers the shutdown handler for SIGTERM and SIGINT */
  onSignal: (handler: (signal: string) => void) => void;
}

export const processIo: ProcessIo = {
  stdout: (t) => void process.stdout.write(t),
  onSignal: (handler) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => handler(signal));
  },
};
