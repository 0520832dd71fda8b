// The harness's CRD wait, in isolation (no API server needed): a CRD whose status the API server has
// not set yet is "not yet", never an error, which is what `kubectl wait` got wrong.
import { describe, expect, test } from "bun:test";
import { crdItems, notEstablished } from "./crd-established.ts";

const crd = (name: string, status?: unknown) => ({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name }, ...(status === undefined ? {} : { status }) });

describe("notEstablished", () => {
  test("a CRD just applied, with no status yet, is waited for (kubectl wait failed here with '.status.conditions accessor error')", () => {
    expect(notEstablished([crd("workflows.argoproj.io")], ["workflows.argoproj.io"])).toEqual(["workflows.argoproj.io"]);
    expect(notEstablished([crd("workflows.argoproj.io", {})], ["workflows.argoproj.io"])).toEqual(["workflows.argoproj.io"]);
    expect(notEstablished([crd("workflows.argoproj.io", { conditions: null })], ["workflows.argoproj.io"])).toEqual(["workflows.argoproj.io"]);
  });

  test("names accepted but not Established yet is waited for; Established=True is done", () => {
    const accepted = crd("a.example.com", { conditions: [{ type: "NamesAccepted", status: "True" }, { type: "Established", status: "False" }] });
    const done = crd("b.example.com", { conditions: [{ type: "NamesAccepted", status: "True" }, { type: "Established", status: "True" }] });
    expect(notEstablished([accepted, done], ["a.example.com", "b.example.com"])).toEqual(["a.example.com"]);
  });

  test("a CRD the API server does not list yet is waited for", () => {
    const done = crd("b.example.com", { conditions: [{ type: "Established", status: "True" }] });
    expect(notEstablished([done], ["a.example.com", "b.example.com"])).toEqual(["a.example.com"]);
    expect(notEstablished([done], ["b.example.com"])).toEqual([]);
  });
});

describe("crdItems", () => {
  test("reads kubectl's List for several names and the bare object for one", () => {
    const one = crd("a.example.com", { conditions: [{ type: "Established", status: "True" }] });
    expect(crdItems({ apiVersion: "v1", kind: "List", items: [one, one] })).toHaveLength(2);
    expect(notEstablished(crdItems(one), ["a.example.com"])).toEqual([]);
    expect(crdItems(null)).toEqual([]);
  });
});
