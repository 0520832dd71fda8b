// Which CustomResourceDefinitions are not Established yet, from `kubectl get crd NAMES -o json`.
// The control-plane harness polls this instead of `kubectl wait --for=condition=Established`:
// right after a full-schema CRD is applied its .status may not be set yet, and `kubectl wait` then
// fails at once with ".status.conditions accessor error" instead of waiting (on a loaded machine,
// often), which made the suite flaky. A CRD without status, without the condition, or with it
// False is simply "not yet". https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#create-a-customresourcedefinition
export interface CrdStatusView {
  metadata?: { name?: string };
  status?: { conditions?: { type?: string; status?: string }[] | null } | null;
}

/** The names among `wanted` that are absent from `items` or not Established=True, in `wanted`'s order. */
export function notEstablished(items: readonly CrdStatusView[], wanted: readonly string[]): string[] {
  const established = new Set(items.filter((i) => (i.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True")).map((i) => i.metadata?.name));
  return wanted.filter((name) => !established.has(name));
}

/** `kubectl get crd A B -o json` prints a List for several names and the object itself for one. */
export function crdItems(json: unknown): CrdStatusView[] {
  if (json && typeof json === "object" && Array.isArray((json as { items?: unknown }).items)) return (json as { items: CrdStatusView[] }).items;
  return json && typeof json === "object" ? [json as CrdStatusView] : [];
}
