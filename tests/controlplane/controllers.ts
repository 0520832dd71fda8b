// The pinned External Secrets and Argo workflow controllers, started against a test Cluster with
// an admin kubeconfig. Their own RBAC is their charts' business; what these tests prove is what
// they make of ours. No webhooks: the ESO controller runs without its webhook and cert controller
// (the API server's CRD schemas validate instead), and Argo needs none.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tool } from "../chart/render.ts";
import { waitFor, type Cluster, type Proc } from "./cluster.ts";

/** The ESO controller (the image's default command), watching every namespace. */
export async function startExternalSecrets(cluster: Cluster): Promise<Proc> {
  const proc = cluster.spawn("external-secrets", [
    tool("external-secrets"),
    "--metrics-addr=127.0.0.1:8080",
    "--enable-leader-election=false",
    // What the tests use; the reconcilers of push and cluster-wide secrets stay off.
    "--enable-push-secret-reconciler=false",
    "--enable-cluster-push-secret-reconciler=false",
    "--enable-cluster-external-secret-reconciler=false",
    // The tests' stores are healthy or they fail; do not hold ExternalSecrets back.
    "--enable-flood-gate=false",
    "--loglevel=info",
  ], { KUBECONFIG: cluster.kubeconfig("default") });
  await waitFor("the External Secrets controller to start its workers", 60_000, async () => {
    proc.assertRunning();
    return /Starting workers.*externalsecret/i.test(await Bun.file(proc.log).text());
  }, () => proc.tail());
  return proc;
}

/** The Argo workflow controller, installed in namespace `argo`, watching every namespace. */
export async function startArgo(cluster: Cluster): Promise<Proc> {
  await cluster.createNamespace("argo");
  // The controller refuses to start without its ConfigMap; the defaults are what the tests want.
  await cluster.kubectl(["create", "configmap", "workflow-controller-configmap"], { namespace: "argo" });
  const proc = cluster.spawn("workflow-controller", [
    tool("workflow-controller"),
    // The image a cluster would pull; here argo-pod.ts runs the argoexec built with the controller.
    `--executor-image=quay.io/argoproj/argoexec:${readFileSync(join(ROOT, ".tools/stamps/argo-controller"), "utf8").trim()}`,
    "--loglevel=info",
    "--workflow-workers=2",
    "--pod-cleanup-workers=1",
  ], { KUBECONFIG: cluster.kubeconfig("argo"), LEADER_ELECTION_DISABLE: "true" });
  await waitFor("the Argo workflow controller to start its workers", 60_000, async () => {
    proc.assertRunning();
    return (await Bun.file(proc.log).text()).includes("Starting Workflow Controller");
  }, () => proc.tail());
  return proc;
}
