// Proof that no secret leaks: checks output for the exact secrets a test handled (tokens,
// the key's base64 body) and for anything shaped like one (a JWT, a PEM block, a GitHub token).
import { expect } from "bun:test";

const SHAPES: Array<[string, RegExp]> = [
  ["a PEM block", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ["a JWT", /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  // both installation-token forms: ghs_ + 36 alphanumerics, and ghs_<appid>_<JWT>
  ["a GitHub token", /(gh[opsu]_[A-Za-z0-9_.-]{20,}|github_pat_[A-Za-z0-9_]{20,})/],
];

/** Lines of a PEM's base64 body: any one of them appearing in output is a leak. */
export function keyFragments(pem: string): string[] {
  return pem
    .split(/\r?\n/)
    .filter((l) => l && !l.startsWith("-----"))
    .filter((l) => l.length >= 40);
}

export function expectNoSecrets(output: string, secrets: string[] = []): void {
  for (const [what, re] of SHAPES) {
    const m = re.exec(output);
    expect(m ? `output contains ${what}: ${m[0].slice(0, 12)}…` : "clean").toBe("clean");
  }
  for (const s of secrets) {
    if (s.length < 8) continue;
    expect(output.includes(s) ? `output contains a secret (${s.slice(0, 4)}…)` : "clean").toBe("clean");
  }
}
