// The GitHub simulator as a GitHub Enterprise Server behind a private CA (API under /api/v3, TLS
// with a self-signed certificate), started before a test file's tests and closed after them: what
// the pod-wiring tests run the chart's containers against.
import { afterAll, beforeAll } from "bun:test";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { makeSelfSignedCert } from "../simulator/tls.ts";
import { requireBinary, tempDir } from "../helpers/generator.ts";

export interface Ghes {
  sim: Simulator;
  /** the CA bundle (PEM) a github.caConfigMap would hold */
  ca: string;
  apiUrl: string;
}

/** Registers beforeAll/afterAll; read the returned object's fields inside tests. */
export function useGhesSimulator(): Ghes {
  const ghes = {} as Ghes;
  const certs = tempDir();
  beforeAll(async () => {
    requireBinary();
    const tls = makeSelfSignedCert(certs.dir);
    ghes.ca = tls.cert;
    ghes.sim = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, prefix: "/api/v3" });
    ghes.apiUrl = `https://localhost:${ghes.sim.port}/api/v3`;
  });
  afterAll(async () => {
    await ghes.sim.close();
    certs.cleanup();
  });
  return ghes;
}
