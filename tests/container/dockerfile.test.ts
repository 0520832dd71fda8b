// The Dockerfile says what tests/container/container.test.ts runs: the same executable path,
// user, build script and Bun, and bases pinned by digest. No Docker engine runs here, so these
// are the links between the file and what the container test proves.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BROKER_IMAGE, IMAGE } from "../../ci/image-rootfs.ts";
import pkg from "../../package.json" with { type: "json" };

const ROOT = resolve(import.meta.dir, "../..");
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
// Instructions with their continuation lines joined, comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const stages = instructions.reduce<string[][]>((acc, line) => {
  if (/^FROM\s/i.test(line)) acc.push([]);
  acc.at(-1)?.push(line);
  return acc;
}, []);
const finalStage = stages.at(-1)!;
/** The broker's image: the stage `--target ghapp-runner-broker` builds. */
const brokerStage = stages.find((st) => / AS ghapp-runner-broker$/i.test(st[0]!))!;

describe("Dockerfile", () => {
  test("pins the distroless bases by digest, and the builder to package.json's Bun", () => {
    const froms = instructions.filter((l) => /^FROM\s/i.test(l));
    const distroless = froms.filter((l) => l.includes("gcr.io/distroless/"));
    expect(distroless.length).toBe(3); // base-nossl (glibc), and static for each of the two images
    for (const from of distroless) expect(from).toMatch(/gcr\.io\/distroless\/[a-z0-9-]+-debian12:nonroot@sha256:[0-9a-f]{64}\b/);
    expect(finalStage[0]).toContain("gcr.io/distroless/static-debian12:nonroot@sha256:");
    expect(froms.some((l) => l.includes(`oven/bun:${pkg.devDependencies.bun} `) || l.includes(`oven/bun:${pkg.devDependencies.bun}@sha256:`))).toBe(true);
  });

  test("builds with the script npm run build runs, for the target platform", () => {
    expect(pkg.scripts.build).toBe("bun run ci/build.ts");
    expect(instructions).toContain('RUN bun run ci/build.ts --platform "$TARGETPLATFORM" --outfile /out/ghapp-token');
    expect(instructions.some((l) => l.startsWith("RUN bun install --frozen-lockfile"))).toBe(true);
  });

  test("runs the executable the container test runs, as the user it runs as", () => {
    expect(finalStage).toContain(`ENTRYPOINT ["${IMAGE.executable}"]`);
    expect(finalStage).toContain(`USER ${IMAGE.user.uid}:${IMAGE.user.gid}`);
    expect(finalStage.some((l) => l.startsWith("COPY") && l.endsWith(`/out/ghapp-token ${IMAGE.executable}`))).toBe(true);
    // Nothing in the final stage may run a command: the base has no shell.
    expect(finalStage.filter((l) => /^RUN\s/i.test(l))).toEqual([]);
  });

  test("sets the environment the container test runs with (IMAGE.ownEnv)", () => {
    const set = finalStage.filter((l) => /^ENV\s/i.test(l)).flatMap((l) => [...l.slice(4).matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    expect(Object.fromEntries(set)).toEqual({ ...IMAGE.ownEnv });
  });

  test("labels the image with its source, version and licence", () => {
    const labels = finalStage.filter((l) => l.startsWith("LABEL")).join(" ");
    expect(labels).toContain('org.opencontainers.image.source="https://github.com/ghapp-tokens/ghapp-tokens"');
    expect(labels).toContain('org.opencontainers.image.version="${VERSION}"');
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
  });

  test("sends the builder every file it copies, and nothing else", () => {
    const allowed = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("!"))
      .map((l) => l.slice(1).replace(/\/$/, ""));
    const copied = instructions
      .filter((l) => /^COPY\s/i.test(l) && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1).filter((a) => !a.startsWith("--")))
      .map((p) => p.replace(/\/$/, ""));
    for (const path of copied) {
      expect(existsSync(join(ROOT, path))).toBe(true);
      expect(allowed).toContain(path);
    }
    expect(allowed.sort()).toEqual([...new Set(copied)].sort());
  });

  test("has a gh target: Debian's gh package on a base pinned by digest, as UID 65532, not the default build", () => {
    const gh = stages.find((st) => /^FROM\s.*\sAS gh$/i.test(st[0]!));
    expect(gh).toBeDefined();
    expect(gh![0]).toMatch(/^FROM debian:[a-z]+-slim@sha256:[0-9a-f]{64} AS gh$/);
    expect(gh!.some((l) => /^RUN apt-get update\s+&&\s+apt-get install -y --no-install-recommends [\w -]*\bgh\b/.test(l))).toBe(true);
    expect(gh).toContain(`USER ${IMAGE.user.uid}:${IMAGE.user.gid}`);
    expect(gh).not.toBe(finalStage);
  });

  test("the release publishes the gh image where the chart looks for it (<image>-gh:<version>)", () => {
    const release = readFileSync(join(ROOT, ".github/workflows/release.yaml"), "utf8");
    expect(release).toContain("target: gh");
    expect(release).toContain("outputs: type=image,name=${{ needs.version.outputs.image }}-gh,push-by-digest=true");
    expect(release).toMatch(/IMAGE: \$\{\{ needs\.version\.outputs\.image \}\}-gh\n/);
    const helpers = readFileSync(join(ROOT, "charts/ghapp-tokens/templates/_helpers.tpl"), "utf8");
    expect(helpers).toContain('(printf "%s-gh:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion))');
  });

  test("builds the runner broker as a second target, on the same static base, as 65532, leaving ghapp-token the default", () => {
    expect(brokerStage).toBeDefined();
    // Same base (one digest to refresh) and same user as the generator's image.
    expect(brokerStage[0]!.split(/\s+/)[1]).toBe(finalStage[0]!.split(/\s+/)[1]!);
    expect(brokerStage).toContain(`USER ${IMAGE.user.uid}:${IMAGE.user.gid}`);
    expect(brokerStage).toContain(`ENTRYPOINT ["${BROKER_IMAGE.executable}"]`);
    expect(brokerStage).toContain('CMD ["serve"]');
    expect(brokerStage.some((l) => l.startsWith("COPY") && l.endsWith(`/out/ghapp-runner-broker ${BROKER_IMAGE.executable}`))).toBe(true);
    expect(brokerStage.filter((l) => /^RUN\s/i.test(l))).toEqual([]);
    // The executable ci/build.ts writes beside ghapp-token, with the glibc files its own ELF header names.
    expect(instructions.some((l) => l.includes("bun ci/image-rootfs.ts --executable /out/ghapp-runner-broker"))).toBe(true);
    // A build without --target still makes ghapp-token: its stage stays the last.
    expect(stages.indexOf(brokerStage)).toBeLessThan(stages.length - 1);
    const labels = brokerStage.filter((l) => l.startsWith("LABEL")).join(" ");
    expect(labels).toContain('org.opencontainers.image.title="ghapp-runner-broker"');
    expect(labels).toContain('org.opencontainers.image.version="${VERSION}"');
  });
});
