// The Flux wiring holds together across namespaces: the example GitRepositories (*.flux.yaml)
// reference Secrets that values-examples/flux.values.yaml renders in their own namespace, shaped
// for their auth mode; every ExternalSecret there uses a store that exists for it; the token
// generator reads a key synced next to it; and each External Secrets template expression reaches
// the cluster as ESO syntax naming a key the ExternalSecret provides (not as Helm leftovers).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fluxExamples, parseYaml, renderChart, ROOT, type K8sObject } from "./render.ts";

type Meta = { name: string; namespace?: string };
type ExternalSecret = {
  kind: "ExternalSecret";
  metadata: Meta;
  spec: {
    secretStoreRef?: { name: string; kind: string };
    target: { name: string; template?: { engineVersion?: string; type?: string; data?: Record<string, string> } };
    data?: Array<{ secretKey: string }>;
    dataFrom?: Array<{ sourceRef?: { generatorRef?: { kind: string; name: string } } }>;
  };
};
type GitRepository = { kind: "GitRepository"; metadata: Meta; spec: { provider?: string; secretRef?: { name: string } } };
type GithubAccessToken = { kind: "GithubAccessToken"; metadata: Meta; spec: { auth: { privateKey: { secretRef: { name: string; key: string } } } } };

const FLUX_VALUES = ["flux.values.yaml", "flux-ghes.values.yaml"].map((f) => join(ROOT, "values-examples", f));
const ESO_EXPRESSION = /\{\{.*?\}\}/g;

const inNamespace = (objects: K8sObject[], namespace: string) => objects.filter((o) => (o.metadata as Meta).namespace === namespace);
const ofKind = <T>(objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as unknown as T[];

/** Every serviceAccountRef name in a store's provider block, wherever the provider nests it. */
function serviceAccountRefs(value: unknown): string[] {
  if (!value || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "serviceAccountRef" && typeof (inner as { name?: unknown }).name === "string" ? [(inner as { name: string }).name] : serviceAccountRefs(inner),
  );
}

/** The keys of the Secret an ExternalSecret writes: its template's when it has one, else its data keys. */
function secretKeys(es: ExternalSecret): string[] {
  const template = es.spec.target.template?.data;
  return template ? Object.keys(template) : (es.spec.data ?? []).map((d) => d.secretKey);
}

/** What ESO puts in a template's context: each data secretKey, and a GithubAccessToken generator's `token`. */
function providedKeys(es: ExternalSecret): string[] {
  const generated = (es.spec.dataFrom ?? []).flatMap((d) => (d.sourceRef?.generatorRef?.kind === "GithubAccessToken" ? ["token"] : []));
  return [...(es.spec.data ?? []).map((d) => d.secretKey), ...generated];
}

describe("Flux wiring", () => {
  test("flux.values.yaml renders into flux-system the store copy, its ServiceAccount, the key copy, the generator and both Secrets", async () => {
    const objects = inNamespace(await renderChart([FLUX_VALUES[0]!]), "flux-system");
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual([
      "ExternalSecret/flux-github-app",
      "ExternalSecret/flux-github-token",
      "ExternalSecret/github-app-flux",
      "GithubAccessToken/flux-github-token",
      "SecretStore/aws-secrets",
      "ServiceAccount/external-secrets-sa",
    ]);
  });

  for (const file of fluxExamples()) {
    test(`${basename(file)}: each GitRepository's secretRef is a Secret flux.values.yaml renders beside it, shaped for its provider`, async () => {
      const rendered = await renderChart([FLUX_VALUES[0]!]);
      const repositories = ofKind<GitRepository>(parseYaml(readFileSync(file, "utf8")), "GitRepository");
      expect(repositories.length).toBeGreaterThan(0);
      for (const repo of repositories) {
        const namespace = repo.metadata.namespace ?? "default";
        const es = ofKind<ExternalSecret>(inNamespace(rendered, namespace), "ExternalSecret").find((e) => e.spec.target.name === repo.spec.secretRef?.name);
        expect(es, `no ExternalSecret writes ${namespace}/${repo.spec.secretRef?.name}`).toBeDefined();
        const keys = secretKeys(es!);
        if (repo.spec.provider === "github") {
          // https://fluxcd.io/flux/components/source/gitrepositories/#github
          expect(keys).toEqual(expect.arrayContaining(["githubAppID", "githubAppPrivateKey"]));
          expect(keys.filter((k) => k === "githubAppInstallationID" || k === "githubAppInstallationOwner")).toHaveLength(1);
        } else {
          expect(keys).toEqual(expect.arrayContaining(["username", "password"]));
          expect(es!.spec.target.template?.data?.username).toBe("x-access-token");
        }
      }
    });
  }

  test("image-automation.flux.yaml's ImageUpdateAutomation pushes through the GitRepository beside it", () => {
    const objects = parseYaml(readFileSync(join(ROOT, "values-examples/image-automation.flux.yaml"), "utf8"));
    const [automation] = objects.filter((o) => o.kind === "ImageUpdateAutomation") as Array<K8sObject & { spec: { sourceRef: { kind: string; name: string } } }>;
    expect(automation!.apiVersion).toBe("image.toolkit.fluxcd.io/v1");
    const source = objects.find((o) => o.kind === automation!.spec.sourceRef.kind && o.metadata?.name === automation!.spec.sourceRef.name) as GitRepository | undefined;
    expect(source?.spec.provider).toBe("github");
  });

  for (const values of FLUX_VALUES) {
    test(`${basename(values)}: every ExternalSecret uses a store it may use, and a namespaced store finds its ServiceAccount`, async () => {
      const rendered = await renderChart([values]);
      for (const es of ofKind<ExternalSecret>(rendered, "ExternalSecret")) {
        const ref = es.spec.secretStoreRef;
        if (!ref) continue; // generator only
        const store = rendered.find((o) => o.kind === ref.kind && o.metadata?.name === ref.name && (ref.kind === "ClusterSecretStore" || (o.metadata as Meta).namespace === es.metadata.namespace));
        expect(store, `${es.metadata.namespace}/${es.metadata.name} uses ${ref.kind}/${ref.name}, which is not rendered where it may use it`).toBeDefined();
        const conditions = (store!.spec as { conditions?: Array<{ namespaces?: string[] }> }).conditions;
        if (conditions) expect(conditions.some((c) => c.namespaces?.includes(es.metadata.namespace!))).toBe(true);
        if (ref.kind !== "SecretStore") continue;
        // A SecretStore authenticates as a ServiceAccount of its own namespace (IRSA, workload identity).
        for (const sa of serviceAccountRefs(store!.spec)) {
          expect(rendered.some((o) => o.kind === "ServiceAccount" && o.metadata?.name === sa && (o.metadata as Meta).namespace === es.metadata.namespace)).toBe(true);
        }
      }
    });

    test(`${basename(values)}: each ESO template expression is ESO syntax naming a key the ExternalSecret provides`, async () => {
      const rendered = await renderChart([values]);
      const templated = ofKind<ExternalSecret>(rendered, "ExternalSecret").filter((es) => es.spec.target.template);
      expect(templated.length).toBeGreaterThan(0);
      for (const es of templated) {
        expect(es.spec.target.template!.engineVersion).toBe("v2");
        for (const value of Object.values(es.spec.target.template!.data ?? {})) {
          for (const expression of value.match(ESO_EXPRESSION) ?? []) {
            const key = expression.match(/^\{\{ \.(\w+) \}\}$/)?.[1];
            expect(key, `${es.metadata.name}: ${expression} is not a plain ESO key reference`).toBeDefined();
            expect(providedKeys(es)).toContain(key!);
          }
        }
      }
    });
  }

  test("the token generator reads the private key from a Secret synced into its own namespace", async () => {
    const rendered = await renderChart([FLUX_VALUES[0]!]);
    const [generator] = ofKind<GithubAccessToken>(rendered, "GithubAccessToken");
    const ref = generator!.spec.auth.privateKey.secretRef;
    const source = ofKind<ExternalSecret>(inNamespace(rendered, generator!.metadata.namespace!), "ExternalSecret").find((e) => e.spec.target.name === ref.name);
    expect(source && secretKeys(source)).toContain(ref.key);
  });
});
