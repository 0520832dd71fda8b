// The rendered github-app-token template, executed the way a kubelet would: the fixture Secret
// github-app-rex (the simulator's app id and key) as env and a secret volume, the emptyDir as a
// folder, the compiled generator run with exactly the rendered env and mounts, then the main step
// of test-github-app (its own script) calling the simulator with the real gh CLI over TLS.
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BINARY } from "../helpers/generator.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { useGhesSimulator } from "./ghes.ts";
import { renderChart } from "./render.ts";
import { Pod, SERVICE_ACCOUNT_DIR, substitute, type Container, type Fixtures, type PodTemplate } from "./kubelet.ts";

const ghes = useGhesSimulator();

async function renderPod(sets: string[] = [], template = "run"): Promise<{ pod: PodTemplate; script: string; app: string }> {
  const objects = await renderChart([], [`github.apiUrl=${ghes.apiUrl}`, "github.caConfigMap=ghes-ca", ...sets]);
  const tokenTemplate = objects.find((o) => o.metadata?.name === "github-app-token")!;
  const testTemplate = objects.find((o) => o.metadata?.name === "test-github-app")!;
  const run = (tokenTemplate.spec as { templates: Array<PodTemplate & { name: string; inputs: { parameters: Array<{ name: string; value?: string }> } }> }).templates.find((t) => t.name === template)!;
  const step = (testTemplate.spec as { templates: Array<{ steps: Array<Array<{ arguments: { parameters: Array<{ name: string; value: string }> } }>> }> }).templates[0]!.steps[0]![0]!;
  // `argo submit --from workflowtemplate/test-github-app -p owner=acme-org`: the workflow's
  // arguments with the defaults, then the step's arguments, then the template's input defaults.
  const workflowArgs: Record<string, string> = {};
  for (const p of (testTemplate.spec as { arguments: { parameters: Array<{ name: string; value: string }> } }).arguments.parameters) workflowArgs[p.name] = p.value;
  workflowArgs.owner = "acme-org";
  const app = workflowArgs["github-app"]!;
  const params: Record<string, string> = {};
  for (const p of run.inputs.parameters) if (p.value !== undefined) params[p.name] = p.value;
  for (const p of step.arguments.parameters) params[p.name] = substitute(p.value, workflowArgs);
  const script = params.script!;
  return { pod: substitute(run, params), script, app };
}

function fixtures(privateKey: string): Fixtures {
  return {
    secrets: { "github-app-rex": { appId: String(ghes.sim.app.id), privateKey } },
    configMaps: { "ghes-ca": { "ca.crt": ghes.ca } },
  };
}

describe("pod wiring: chart and generator agree", () => {
  test("the initContainer mints into the shared volume and test-github-app's script proves it with gh, then revokes it", async () => {
    const { pod: spec, app } = await renderPod();
    expect(app).toBe("rex");
    const pod = new Pod(spec, fixtures(ghes.sim.app.privateKeyPem));
    try {
      const init = await pod.run(spec.initContainers![0]!, [BINARY]);
      expect(init.stderr.split("\n").filter((l) => l.includes('"error"'))).toEqual([]);
      expect(init.code).toBe(0);
      const tokenFile = join(pod.volume("github-token"), "token");
      const token = readFileSync(tokenFile, "utf8");
      expect(ghes.sim.tokens.has(token)).toBe(true);
      expect(statSync(tokenFile).uid).toBe(65532);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);

      const main = await pod.run(spec.container);
      expect(main.stderr).toBe("");
      expect(main.code).toBe(0);
      expect(main.stdout).toContain("token works: the installation grants access to");
      expect(main.stdout).toContain("acme-org/api");
      expectNoSecrets(init.stdout + init.stderr + main.stdout + main.stderr, [token]);
      // gh really called the simulator with the minted token
      expect(ghes.sim.requests.some((r) => r.path.startsWith("/installation/repositories") && r.headers.authorization?.endsWith(token))).toBe(true);
      // and the script revoked it when done, so it is dead now rather than for the rest of its hour
      expect(main.stdout).toContain("token revoked");
      expect(ghes.sim.tokens.get(token)?.revoked).toBe(true);
    } finally {
      pod.cleanup();
    }
  }, 30_000);

  test("with mode 0640 a main container of another UID reads the token through fsGroup; with 0600 it cannot", async () => {
    for (const [mode, readable] of [["0640", true], ["0600", false]] as const) {
      const { pod: spec } = await renderPod([`generator.tokenFileMode=${mode}`]);
      const pod = new Pod(spec, fixtures(ghes.sim.app.privateKeyPem));
      try {
        expect((await pod.run(spec.initContainers![0]!, [BINARY])).code).toBe(0);
        const reader = { ...spec.container, securityContext: { runAsUser: 1000, runAsGroup: 1000 }, command: ["sh", "-c"], args: ['test -s "$GITHUB_TOKEN_FILE" && cat "$GITHUB_TOKEN_FILE" >/dev/null'] };
        expect((await pod.run(reader)).code === 0).toBe(readable);
      } finally {
        pod.cleanup();
      }
    }
  }, 30_000);

  // What a step's script (or a malicious dependency in it) could reach: a Kubernetes API token
  // (to `get` the app Secrets), the key file, or any file with a private key in it.
  const LOOK_FOR_CREDENTIALS = [
    `found=0`,
    `for f in ${SERVICE_ACCOUNT_DIR}/token /run/secrets/kubernetes.io/serviceaccount/token /var/run/github-app/privateKey; do`,
    `  if [ -e "$f" ]; then echo "visible: $f"; found=1; fi`,
    `done`,
    // Every mount the process has, whatever its path: none may come from the key volume.
    `if grep -q "/volumes/github-app-key" /proc/self/mountinfo; then echo "mounted: the key volume"; found=1; fi`,
    `if grep -rlsF "PRIVATE KEY-----" /run /var/run /tmp /etc/ghapp-tokens; then found=1; fi`,
    `exit "$found"`,
  ].join("\n");

  test("the main container's process sees no ServiceAccount token and no key file, in both templates", async () => {
    for (const template of ["run", "run-with-refresh"]) {
      const { pod: spec } = await renderPod([], template);
      const pod = new Pod(spec, fixtures(ghes.sim.app.privateKeyPem));
      try {
        expect((await pod.run(spec.initContainers![0]!, [BINARY])).code).toBe(0);
        const probe = await pod.run({ ...spec.container, command: ["sh", "-c"], args: [LOOK_FOR_CREDENTIALS] });
        expect(probe.stdout).toBe("");
        expect(probe.code).toBe(0);
      } finally {
        pod.cleanup();
      }
    }
  }, 30_000);

  test("the same probe finds the token and the key in a pod that mounts them, as the chart's pods did before", async () => {
    const { pod: rendered } = await renderPod();
    // What the chart rendered until now: no automount opt-out, and (as a hand-written step might) the key volume mounted.
    const { automountServiceAccountToken: _, ...spec } = rendered;
    const leaky = { ...spec.container, volumeMounts: [...(spec.container.volumeMounts ?? []), { name: "github-app-key", mountPath: "/var/run/github-app", readOnly: true }] };
    const pod = new Pod(spec, fixtures(ghes.sim.app.privateKeyPem));
    try {
      const probe = await pod.run({ ...leaky, command: ["sh", "-c"], args: [LOOK_FOR_CREDENTIALS] });
      expect(probe.code).toBe(1);
      expect(probe.stdout).toContain(`visible: ${SERVICE_ACCOUNT_DIR}/token`);
      expect(probe.stdout).toContain("visible: /var/run/github-app/privateKey");
      expect(probe.stdout).toContain("mounted: the key volume");
    } finally {
      pod.cleanup();
    }
  });

  test("run-with-refresh: the sidecar replaces the token and revokes its last one when stopped at the end of the step", async () => {
    const { pod: spec } = await renderPod([], "run-with-refresh");
    const pod = new Pod(spec, fixtures(ghes.sim.app.privateKeyPem));
    try {
      expect((await pod.run(spec.initContainers![0]!, [BINARY])).code).toBe(0);
      const tokenFile = join(pod.volume("github-token"), "token");
      const first = readFileSync(tokenFile, "utf8");
      // The rendered sidecar, on a port of its own: this machine is not a pod network namespace.
      const rendered = (spec as PodTemplate & { sidecars: Container[] }).sidecars[0]!;
      expect(rendered.env).toContainEqual({ name: "REVOKE_ON_EXIT", value: "true" });
      const sidecar = pod.start({ ...rendered, env: rendered.env!.map((e) => (e.name === "LISTEN_ADDR" ? { ...e, value: "127.0.0.1:0" } : e)) }, [BINARY]);
      let current = first;
      for (let i = 0; i < 100 && current === first; i++) {
        await Bun.sleep(100);
        current = readFileSync(tokenFile, "utf8");
      }
      expect(current).not.toBe(first);
      expect(ghes.sim.tokens.get(current)?.revoked).toBe(false);
      const stopped = await sidecar.stop();
      expect(stopped.code).toBe(0);
      expect(ghes.sim.tokens.get(current)?.revoked).toBe(true);
      expectNoSecrets(stopped.stdout + stopped.stderr, [first, current]);
    } finally {
      pod.cleanup();
    }
  }, 30_000);

  test("a broken key in the Secret fails the initContainer fast with exit 2, and no token is written", async () => {
    const { pod: spec } = await renderPod();
    // The App's PEM armour around a body that is not a key (made at run time: no key text is committed).
    const broken = ghes.sim.app.privateKeyPem.replace(/^(-----BEGIN [^\n]+\n)[\s\S]*?(\n-----END )/, "$1not really a key$2");
    const pod = new Pod(spec, fixtures(broken));
    try {
      const before = ghes.sim.requests.length;
      const init = await pod.run(spec.initContainers![0]!, [BINARY]);
      expect(init.code).toBe(2);
      expect(init.stderr).toContain("PRIVATE_KEY_FILE is not a valid private key");
      expect(ghes.sim.requests.length).toBe(before);
      expect(() => statSync(join(pod.volume("github-token"), "token"))).toThrow();
    } finally {
      pod.cleanup();
    }
  });
});
