// values-examples/own-template.workflow.yaml shows how to add a token to a template a user already
// has (own volumes, an input artifact, an output parameter and artifact, its own UID). These tests
// hold the copyable blocks to what the chart renders, so the documented block cannot drift from the
// chart, and run the template the way a kubelet would, against the GitHub simulator over TLS.
// (Argo's validator judges the file with the other examples, in schemas.test.ts.)
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY } from "../helpers/generator.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { useGhesSimulator } from "./ghes.ts";
import { parseYaml, renderChart, ROOT } from "./render.ts";
import { Pod, SERVICE_ACCOUNT_DIR, substitute, type Container, type PodTemplate } from "./kubelet.ts";

type EnvVar = NonNullable<Container["env"]>[number];
type Template = PodTemplate & { name: string; inputs?: { parameters?: Array<{ name: string; value?: string }>; artifacts?: Array<{ name: string; path: string; raw?: { data: string } }> }; outputs?: unknown };
type Spec = { automountServiceAccountToken?: boolean; executor?: { serviceAccountName?: string }; templates: Template[] };

const EXAMPLE = join(ROOT, "values-examples/own-template.workflow.yaml");
const example = parseYaml(readFileSync(EXAMPLE, "utf8"))[0]!;
const spec = example.spec as Spec;
const own = spec.templates.find((t) => t.name === "release-notes")!;

/** The chart's `run` template for the same app and scope as the example, with its token file group-readable. */
async function chartRun(): Promise<Template> {
  const objects = await renderChart([], ["generator.tokenFileMode=0640"]);
  const template = (objects.find((o) => o.metadata?.name === "github-app-token")!.spec as Spec).templates.find((t) => t.name === "run")!;
  return substitute(template, { "github-app": "rex", "installation-id": "", owner: "acme-org", repositories: "api", permissions: "contents=read,metadata=read", image: "", script: "", "pod-spec-patch": "{}" });
}

/** Env as the generator reads it: an empty variable counts as unset. */
const meaningful = (env: EnvVar[] = []) => env.filter((e) => e.valueFrom || e.value !== "");

describe("adding a token to a template you already have", () => {
  test("the copied blocks are what the chart renders: generator, volumes, pod group, no API credentials", async () => {
    const run = await chartRun();
    const mine = own.initContainers![0]! as Container & Record<string, unknown>;
    const theirs = run.initContainers![0]! as Container & Record<string, unknown>;
    expect({ ...mine, env: meaningful(mine.env) }).toEqual({ ...theirs, env: meaningful(theirs.env) });
    for (const name of ["github-token", "github-app-key"]) {
      expect(own.volumes.find((v) => v.name === name)).toEqual(run.volumes.find((v) => v.name === name)!);
    }
    expect(own.securityContext?.fsGroup).toBe(run.securityContext!.fsGroup!);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.executor?.serviceAccountName).toBe((run as unknown as Spec).executor!.serviceAccountName!);
    // The main container gets the token file and nothing of the key.
    expect(own.container.env).toContainEqual({ name: "GITHUB_TOKEN_FILE", value: "/var/run/github/token" });
    expect(own.container.volumeMounts).toContainEqual({ name: "github-token", mountPath: "/var/run/github", readOnly: true });
    expect(own.container.volumeMounts?.map((m) => m.name)).not.toContain("github-app-key");
  });

  describe("run as a kubelet would", () => {
    const server = useGhesSimulator();

    test("the generator mints for the user's UID, the step uses its own volumes, input and outputs, and revokes the token", async () => {
      // What a GitHub Enterprise Server install adds to the block (github.caConfigMap and github.apiUrl
      // in the chart): the simulator's API URL and its private CA, for the generator and for gh.
      const { sim, ca, apiUrl } = server;
      const caMount = { name: "github-ca", mountPath: "/etc/ghapp-tokens/ca", readOnly: true };
      const init = own.initContainers![0]!;
      const step = {
        ...own,
        // Argo gives every pod of the Workflow its spec-level automountServiceAccountToken.
        automountServiceAccountToken: own.automountServiceAccountToken ?? spec.automountServiceAccountToken,
        // Argo's own init container puts each input artifact at its path; here a volume holds it.
        volumes: [...own.volumes, { name: "github-ca", configMap: { name: "ghes-ca" } }, { name: "input-artifacts", emptyDir: {} }],
        initContainers: [{ ...init, env: [...init.env!.map((e) => (e.name === "GITHUB_API_URL" ? { ...e, value: apiUrl } : e)), { name: "NODE_EXTRA_CA_CERTS", value: "/etc/ghapp-tokens/ca/ca.crt" }], volumeMounts: [...init.volumeMounts!, caMount] }],
        container: {
          ...own.container,
          env: [...own.container.env!, { name: "GH_HOST", value: `localhost:${sim.port}` }, { name: "SSL_CERT_DIR", value: "/etc/ssl/certs:/etc/ghapp-tokens/ca" }],
          volumeMounts: [...own.container.volumeMounts!, caMount, { name: "input-artifacts", mountPath: "/inputs", readOnly: true }],
        },
      };
      const pod = new Pod(step, { secrets: { "github-app-rex": { appId: String(sim.app.id), privateKey: sim.app.privateKeyPem } }, configMaps: { "ghes-ca": { "ca.crt": ca } } });
      try {
        for (const artifact of own.inputs!.artifacts!) writeFileSync(join(pod.volume("input-artifacts"), artifact.path.replace(/^\/inputs\//, "")), artifact.raw!.data);
        const minted = await pod.run(step.initContainers[0]!, [BINARY]);
        expect(minted.code).toBe(0);
        const token = readFileSync(join(pod.volume("github-token"), "token"), "utf8");
        expect(sim.tokens.has(token)).toBe(true);

        const main = await pod.run(step.container);
        expect(main.stderr).toBe("");
        expect(main.code).toBe(0);
        // What Argo's wait container would collect as the outputs.
        const notes = readFileSync(join(pod.volume("work"), "notes.md"), "utf8");
        expect(notes.startsWith("# Release notes\n")).toBe(true);
        expect(notes).toContain("- acme-org/api");
        expect(Number(readFileSync(join(pod.volume("work"), "count"), "utf8"))).toBeGreaterThan(0);
        expectNoSecrets(notes + minted.stdout + minted.stderr + main.stdout, [token]);
        expect(sim.tokens.get(token)?.revoked).toBe(true);
        // The main container ran as its own user and saw neither a ServiceAccount token nor the key.
        const probe = await pod.run({ ...step.container, command: ["sh", "-c"], args: [`id -u; test ! -e ${SERVICE_ACCOUNT_DIR}/token && test ! -e /var/run/github-app/privateKey`] });
        expect(probe.stdout.trim()).toBe("1000");
        expect(probe.code).toBe(0);
      } finally {
        pod.cleanup();
      }
    }, 30_000);
  });
});
