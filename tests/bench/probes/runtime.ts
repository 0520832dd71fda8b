// Probe: the compiled Bun runtime alone, starting and exiting (the floor under every figure).
process.exitCode = 0;
