// A self-signed certificate for the simulator's HTTPS mode, made with openssl at run time, so
// clients (the generator, the gh CLI) are tested against TLS with a private CA exactly as with
// a GitHub Enterprise Server that uses an internal certificate authority.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** `hosts`: further DNS names the certificate is valid for, beside localhost and 127.0.0.1. */
export function makeSelfSignedCert(dir: string, hosts: string[] = []): { cert: string; key: string; caFile: string } {
  const keyFile = join(dir, "tls-key.pem");
  const caFile = join(dir, "ca.pem");
  const san = ["DNS:localhost", "IP:127.0.0.1", ...hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`))];
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-keyout", keyFile, "-out", caFile,
      "-subj", "/CN=localhost",
      "-addext", `subjectAltName=${[...new Set(san)].join(",")}`,
      "-addext", "basicConstraints=critical,CA:TRUE",
    ],
    { stdio: "pipe" },
  );
  return { cert: readFileSync(caFile, "utf8"), key: readFileSync(keyFile, "utf8"), caFile };
}
