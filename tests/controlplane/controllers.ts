// The pinned External Secrets and Argo workflow controllers, started against a test Cluster with
// an admin kubeconfig. Their own RBAC is their charts' business; what these tests prove is what
// they make of ours. No webhooks: the ESO controller runs without its webhook and cert controller
// (the API server's CRD schemas validate instead), and Argo needs none.
import { tool } from "../chart/render.ts";
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
    if (proc.exitCode !== null) throw new Error(`external-secrets exited with ${proc.exitCode}`);
    return /Starting workers.*externalsecret/i.test(await Bun.file(proc.log).text());
  }, () => proc.tail());
  return proc;
}

/** The Argo workflow controller, installed in namespace `argo`, watching every namespace. */
export async function startArgo(cluster: Cluster): Promise<Proc> {
  await cluster.createNamespace("argo");
  const proc = cluster.spawn("workflow-controller", [
    tool("workflow-controller"),
    "--executor-image=quay.io/argoproj/argoexec:v4.0.5",
    "--loglevel=info",
    "--workflow-workers=2",
    "--pod-cleanup-workers=1",
  ], { KUBECONFIG: cluster.kubeconfig("argo"), LEADER_ELECTION_DISABLE: "true" });
  await waitFor("the Argo workflow controller to start its workers", 60_000, async () => {
    if (proc.exitCode !== null) throw new Error(`workflow-controller exited with ${proc.exitCode}`);
    return /Started workflow workers|Starting workflow controller|started .*workers/i.test(await Bun.file(proc.log).text());
  }, () => proc.tail());
  return proc;
}
