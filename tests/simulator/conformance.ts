// The simulator checked against GitHub's own API description (issue 19). Every exchange the simulator
// logged (exchanges.ts) is matched to its operation in the pinned @octokit/openapi description and
// validated with ajv: the client's request (path and query parameters, JSON body) against the
// operation's parameters and request body, the simulator's answer against the schema of the operation
// and status. An operation or a status the description does not list is a failure too, unless
// description-flaws.ts justifies it with GitHub's prose. Webhook deliveries are checked against
// @octokit/openapi-webhooks.
//
// api.github.com exchanges (no prefix) are checked against api.github.com.json; exchanges under /api/v3
// against ghes-3.17.json, the GitHub Enterprise Server release the simulator's /meta reports.
// Answers a test injected (faults: 5xx, rate limits, dropped connections) are GitHub failing on
// purpose and are not checked; the requests that got them are.
//
// A failure reads `apps/get-installation 200 (GET /app/installations/{installation_id}): response
// /account/html_url: is required`: the operation, the status, and the first schema error with its
// JSON path, so the simulator can be fixed without opening the check. Values never appear in a message
// (an answer may hold a token).
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { applyDescriptionFlaws, proseStatus } from "./description-flaws.ts";
import type { ApiExchange, DeliveryExchange, Exchange } from "./exchanges.ts";
import { addOpenApiFormats, toJsonSchema } from "./openapi-schema.ts";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The descriptions the check uses, by the name @octokit/openapi gives them. */
export type DescriptionName = "api.github.com" | "ghes-3.17";
export const GHES_DESCRIPTION: DescriptionName = "ghes-3.17";

const require = createRequire(import.meta.url);

function loadJson(modulePath: string): Json {
  return JSON.parse(readFileSync(require.resolve(modulePath), "utf8")) as Json;
}

export interface Operation {
  operationId: string;
  method: string;
  template: string;
  regex: RegExp;
  /** literal segments: the more, the more specific (generate-jitconfig before {runner_id}) */
  literals: number;
  op: Json;
  pathItem: Json;
}

export interface Failure {
  operation: string;
  status: number | null;
  where: "request" | "response" | "operation" | "status" | "delivery";
  message: string;
}

export interface Report {
  operations: Set<string>;
  exchanges: number;
  requestsChecked: number;
  responsesChecked: number;
  deliveries: number;
  injected: number;
  /** requests outside the description that the simulator refused with a 4xx, as GitHub would */
  refused: number;
  /** paths that are no operation of GitHub's, answered 404 Not Found as GitHub answers them */
  unknownPaths: number;
  failures: Failure[];
}

export function formatFailure(f: Failure): string {
  return `${f.operation}${f.status === null ? "" : ` ${f.status}`}: ${f.where} ${f.message}`;
}

/** The report's one line: what was validated and how many failures. */
export function reportLine(r: Report): string {
  const unique = new Set(r.failures.map(formatFailure)).size;
  return (
    `simulator conformance: ${r.operations.size} operations, ${r.exchanges} exchanges (${r.requestsChecked} requests, ` +
    `${r.responsesChecked} answers validated; ${r.refused} bad requests refused, ${r.unknownPaths} unknown paths answered 404, ` +
    `${r.injected} injected faults not checked), ${r.deliveries} webhook deliveries, ` +
    `${unique} failures`
  );
}

/** The first error ajv reports, as `/json/path: message`; a missing property is named in the path. */
export function firstError(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return "invalid";
  if (e.keyword === "required") return `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}: is required`;
  if (e.keyword === "additionalProperties") return `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}: is not allowed`;
  if (e.keyword === "enum") return `${e.instancePath || "/"}: must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  return `${e.instancePath || "/"}: ${e.message ?? e.keyword}`;
}

/** One description, its operations and a validator cache. */
class Description {
  readonly operations: Operation[] = [];
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly base: string;

  constructor(
    readonly name: string,
    readonly doc: Json,
  ) {
    this.base = `https://ghapp-tokens.invalid/${name}`;
    // Strict about keywords (an unknown one is a conversion bug, not something to skip). Not about how the
    // description is written: strictTypes/strictTuples only warn about schema style (a `properties` with
    // no `type: object`), and validateSchema would check 13 MB of GitHub's schemas against the
    // meta-schema on every run. None of the three changes what a value must be to pass.
    this.ajv = new Ajv({ allErrors: false, strict: true, strictTypes: false, strictTuples: false, allowUnionTypes: true, validateSchema: false });
    addOpenApiFormats(this.ajv);
    // The components live where the description keeps them, so its `#/components/schemas/...` pointers hold.
    this.ajv.addKeyword("components");
    // Components are added once, converted; operation schemas point into them by absolute $ref.
    const components = isObject(doc.components) ? doc.components : {};
    const schemas = isObject(components.schemas) ? components.schemas : {};
    this.ajv.addSchema(
      { $id: this.base, components: { schemas: Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, toJsonSchema(v, this.base)])) } },
      this.base,
    );
    const paths = isObject(doc.paths) ? doc.paths : {};
    for (const [template, pathItem] of Object.entries(paths)) {
      if (!isObject(pathItem)) continue;
      const segments = template.split("/").filter(Boolean);
      const regex = new RegExp(`^/${segments.map((s) => (/^\{.+\}$/.test(s) ? "([^/]+)" : s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))).join("/")}$`);
      for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
        const op = pathItem[method];
        if (!isObject(op)) continue;
        this.operations.push({
          operationId: String(op.operationId),
          method: method.toUpperCase(),
          template,
          regex,
          literals: segments.filter((s) => !s.startsWith("{")).length,
          op,
          pathItem,
        });
      }
    }
    this.operations.sort((a, b) => b.literals - a.literals);
  }

  /** Follows a local `$ref` (#/components/...) in the description. */
  resolve(value: unknown): Json {
    let v = value;
    for (let i = 0; isObject(v) && typeof v.$ref === "string" && i < 10; i++) {
      const ref = v.$ref as string;
      v = ref
        .slice(2)
        .split("/")
        .reduce<unknown>((o, k) => (isObject(o) ? o[k.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined), this.doc);
    }
    return isObject(v) ? v : {};
  }

  match(method: string, path: string): { operation: Operation; params: Record<string, string> } | undefined {
    for (const operation of this.operations) {
      if (operation.method !== method) continue;
      const m = operation.regex.exec(path);
      if (!m) continue;
      const names = [...operation.template.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]!);
      const decode = (v: string) => {
        try {
          return decodeURIComponent(v);
        } catch {
          return v; // a malformed %-escape: checked as it came
        }
      };
      return { operation, params: Object.fromEntries(names.map((n, i) => [n, decode(m[i + 1]!)])) };
    }
    return undefined;
  }

  /** A validator for a schema of the description, cached by a key naming where it came from. */
  validator(key: string, schema: unknown): ValidateFunction {
    let v = this.compiled.get(key);
    if (!v) {
      v = this.ajv.compile(toJsonSchema(schema, this.base) as Json);
      this.compiled.set(key, v);
    }
    return v;
  }

  componentValidator(name: string): ValidateFunction {
    return this.validator(`component ${name}`, { $ref: `#/components/schemas/${name}` });
  }
}

/** Parameters of an operation (its own and its path item's), resolved. */
function parametersOf(d: Description, o: Operation): Json[] {
  const list = [...(Array.isArray(o.pathItem.parameters) ? o.pathItem.parameters : []), ...(Array.isArray(o.op.parameters) ? o.op.parameters : [])];
  return list.map((p) => d.resolve(p));
}

/** A query or path value as the schema's type: "42" is 42 for an integer parameter. */
function coerce(value: string, schema: Json): unknown {
  const type = schema.type;
  if ((type === "integer" || type === "number") && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (type === "boolean" && (value === "true" || value === "false")) return value === "true";
  return value;
}

export class Conformance {
  private readonly descriptions = new Map<string, Description>();
  private webhooks: Description | undefined;

  description(name: DescriptionName): Description {
    let d = this.descriptions.get(name);
    if (!d) {
      const doc = loadJson(`@octokit/openapi/generated/${name}.json`);
      applyDescriptionFlaws(name, doc);
      d = new Description(name, doc);
      this.descriptions.set(name, d);
    }
    return d;
  }

  /** Checks every exchange; the report lists each failure once per exchange. */
  check(exchanges: Iterable<Exchange>): Report {
    const report: Report = { operations: new Set(), exchanges: 0, requestsChecked: 0, responsesChecked: 0, deliveries: 0, injected: 0, refused: 0, unknownPaths: 0, failures: [] };
    for (const x of exchanges) {
      if (x.kind === "delivery") {
        report.deliveries++;
        const failure = this.checkDelivery(x);
        if (failure) report.failures.push(failure);
        continue;
      }
      report.exchanges++;
      report.failures.push(...this.checkExchange(x, report));
    }
    return report;
  }

  checkExchange(x: ApiExchange, report?: Report): Failure[] {
    const d = this.description(x.prefix ? GHES_DESCRIPTION : "api.github.com");
    const found = d.match(x.method, x.path);
    if (!found) {
      // GitHub answers a path it has no route for with 404 {"message": "Not Found"}; so may the simulator.
      // https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api#404-not-found-for-an-existing-resource
      if (x.status === 404 && !x.fault && d.componentValidator("basic-error")(x.responseBody)) {
        if (report) report.unknownPaths++;
        return [];
      }
      return [{ operation: `${x.method} ${x.path}`, status: x.status, where: "operation", message: `is not an operation of GitHub's description (${d.name})` }];
    }
    const { operation: o, params } = found;
    report?.operations.add(o.operationId);
    const failures: Failure[] = [];
    const requestFailures: Failure[] = [];
    const fail = (where: Failure["where"], message: string, status: number | null = x.status) =>
      (where === "request" ? requestFailures : failures).push({ operation: o.operationId, status, where, message: `(${o.method} ${o.template}) ${message}` });

    // ---- the request, whatever the answer ----
    if (report) report.requestsChecked++;
    const parameters = parametersOf(d, o);
    for (const p of parameters) {
      if (p.in !== "path" && p.in !== "query") continue;
      const name = String(p.name);
      const schema = isObject(p.schema) ? p.schema : {};
      const values = p.in === "path" ? (params[name] === undefined ? [] : [params[name]!]) : (x.query[name] ?? []);
      if (values.length === 0 && p.required === true) fail("request", `${p.in} parameter ${name}: is required`, null);
      for (const value of values) {
        const v = d.validator(`param ${o.operationId} ${p.in} ${name}`, schema);
        if (!v(coerce(value, schema))) fail("request", `${p.in} parameter ${name} ${firstError(v.errors)}`, null);
      }
    }
    const declaredQuery = new Set(parameters.filter((p) => p.in === "query").map((p) => String(p.name)));
    for (const name of Object.keys(x.query)) {
      if (!declaredQuery.has(name)) fail("request", `query parameter ${name}: is not a parameter of this operation`, null);
    }
    const requestBody = isObject(o.op.requestBody) ? d.resolve(o.op.requestBody) : undefined;
    const bodySchema = requestBody && isObject(requestBody.content) && isObject(requestBody.content["application/json"]) ? requestBody.content["application/json"].schema : undefined;
    if (x.requestBody !== undefined) {
      if (!bodySchema) fail("request", "body: this operation takes no request body", null);
      else {
        const v = d.validator(`request ${o.operationId}`, bodySchema);
        if (!v(x.requestBody)) fail("request", `body ${firstError(v.errors)}`, null);
      }
    } else if (requestBody?.required === true) {
      fail("request", "body: is required", null);
    }

    // A request outside the description is the client's fault, or the simulator's when it accepts one:
    // refused with a 4xx (checked below like any answer), it is what GitHub does with it.
    if (requestFailures.length > 0 && !x.fault && x.status >= 400 && x.status < 500) {
      if (report) report.refused++;
    } else {
      failures.push(...requestFailures);
    }

    // ---- the answer ----
    if (x.fault || x.status === 0) {
      if (report) report.injected++;
      return failures;
    }
    if (report) report.responsesChecked++;
    const responses = isObject(o.op.responses) ? o.op.responses : {};
    const declared = responses[String(x.status)] ?? responses.default;
    let schema: unknown;
    if (declared !== undefined) {
      const response = d.resolve(declared);
      const content = isObject(response.content) ? response.content : undefined;
      schema = content && isObject(content["application/json"]) ? content["application/json"].schema : undefined;
      if (!content) {
        if (x.responseBody !== undefined) fail("response", "body: the description gives this status no body");
        return failures;
      }
    } else {
      const prose = proseStatus(o.operationId, x.status);
      if (!prose) {
        fail("status", `is not a status the description lists (${Object.keys(responses).join(", ")}); change the simulator, or cite GitHub's prose for it in description-flaws.ts`);
        return failures;
      }
      schema = { $ref: `#/components/schemas/${prose.schema}` };
    }
    if (schema === undefined) return failures;
    if (!/^application\/json\b/.test(x.contentType ?? "")) {
      fail("response", `content-type ${x.contentType ?? "(none)"}: the description gives application/json`);
      return failures;
    }
    const v = d.validator(`response ${o.operationId} ${declared === undefined ? `prose ${x.status}` : x.status}`, schema);
    if (!v(x.responseBody)) fail("response", `body ${firstError(v.errors)}`);
    return failures;
  }

  /** A webhook delivery against @octokit/openapi-webhooks: its event and action name the payload. */
  checkDelivery(x: DeliveryExchange): Failure | undefined {
    this.webhooks ??= new Description("webhooks", loadJson("@octokit/openapi-webhooks/generated/api.github.com.json"));
    const webhooks = isObject(this.webhooks.doc.webhooks) ? this.webhooks.doc.webhooks : {};
    const action = isObject(x.payload) && typeof x.payload.action === "string" ? x.payload.action : undefined;
    const key = action !== undefined && isObject(webhooks[`${x.event}-${action}`]) ? `${x.event}-${action}` : x.event;
    const entry = webhooks[key];
    const post = isObject(entry) && isObject(entry.post) ? entry.post : undefined;
    const name = action === undefined ? x.event : `${x.event}.${action}`;
    if (!post) return { operation: name, status: null, where: "delivery", message: "is not a webhook event of GitHub's description" };
    const body = this.webhooks.resolve(post.requestBody);
    const content = isObject(body.content) && isObject(body.content["application/json"]) ? body.content["application/json"] : {};
    const v = this.webhooks.validator(`delivery ${key}`, content.schema);
    if (v(x.payload)) return undefined;
    return { operation: String(post.operationId ?? name), status: null, where: "delivery", message: `payload ${firstError(v.errors)}` };
  }
}
