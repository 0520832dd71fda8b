// OpenAPI Schema Objects as JSON Schema for ajv, without loosening them.
//
// GitHub's REST description (@octokit/openapi) is OpenAPI 3.0.3, whose Schema Object is a dialect of
// JSON Schema draft 4/5 (https://spec.openapis.org/oas/v3.0.3#schema-object). Three differences matter
// to a JSON Schema validator, and each is translated to what the OpenAPI spec says it means:
// - `nullable: true` allows null (3.0.3, "A true value adds "null" to the allowed values"): a schema
//   with a `type` gets `type: [T, "null"]`, and keeps its `enum` as written (the clarification of
//   nullable, OAI/OpenAPI-Specification#1900: an enum that allows null lists it); a schema without
//   `type` (allOf/anyOf/oneOf/$ref) becomes `anyOf: [schema, {type: "null"}]`.
// - `$ref` siblings are ignored (3.0.3, "This object cannot be extended with additional properties and
//   any properties added SHALL be ignored"): a `$ref` keeps nothing beside it.
// - Annotations JSON Schema does not know (`example`, `discriminator`, `xml`, `externalDocs`, `x-*`)
//   are dropped; `discriminator` only names the branch of a oneOf that must match anyway.
// The webhooks description (@octokit/openapi-webhooks) is OpenAPI 3.1, JSON Schema 2020-12 already
// (`type: [T, "null"]`); the same walk leaves it as it is, apart from the annotations.
//
// Formats: the description uses date-time, date, uri, uri-template, email and int64. They are checked
// here (ajv ships none; ajv-formats is not one of the project's dependencies), each as its RFC says.
import type Ajv from "ajv";

type Schema = Record<string, unknown>;
const isObject = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);
const DROPPED = new Set(["example", "discriminator", "xml", "externalDocs"]);
const SCHEMA_MAPS = ["properties", "patternProperties", "definitions", "$defs"];
const SCHEMA_LISTS = ["allOf", "anyOf", "oneOf", "prefixItems"];
const SCHEMA_ONE = ["not", "additionalProperties", "items", "contains", "if", "then", "else", "propertyNames", "unevaluatedProperties"];

/**
 * The JSON Schema a validator should see for an OpenAPI Schema Object. `refBase` is prefixed to local
 * references (`#/components/...`), so that a schema compiled on its own still finds the description's
 * components, which are added to ajv under that id.
 */
export function toJsonSchema(schema: unknown, refBase: string): unknown {
  if (!isObject(schema)) return schema;
  if (typeof schema.$ref === "string") return { $ref: schema.$ref.startsWith("#") ? `${refBase}${schema.$ref}` : schema.$ref };
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED.has(key) || key.startsWith("x-") || key === "nullable") continue;
    if (SCHEMA_MAPS.includes(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, toJsonSchema(s, refBase)]));
    } else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) {
      out[key] = value.map((s) => toJsonSchema(s, refBase));
    } else if (SCHEMA_ONE.includes(key)) {
      out[key] = Array.isArray(value) ? value.map((s) => toJsonSchema(s, refBase)) : toJsonSchema(value, refBase);
    } else {
      out[key] = value;
    }
  }
  if (schema.nullable !== true) return out;
  if (typeof out.type === "string") {
    out.type = [out.type, "null"];
    // An enum restricts the value further; a nullable enum that does not list null would refuse null
    // whatever `type` says, and the OpenAPI clarification says exactly that. GitHub's enums list null
    // where they mean it (e.g. check runs' conclusion), so the enum is kept as written.
    return out;
  }
  return { anyOf: [out, { type: "null" }] };
}

/** RFC 3339 section 5.6 date-time (with the `T` and an offset), as GitHub writes timestamps. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** RFC 5322's addr-spec, in the simplified form HTML's input type=email uses. */
const EMAIL = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function validDate(y: string, m: string, d: string): boolean {
  const year = Number(y), month = Number(m), day = Number(d);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

/** An absolute URI (RFC 3986 section 4.3): a scheme, then whatever WHATWG URL parsing accepts. */
function isUri(s: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(s) && !/\s/.test(s) && URL.canParse(s);
}

/** RFC 6570: a URI with `{...}` expressions; the literal parts must form a URI reference. */
function isUriTemplate(s: string): boolean {
  if (/[{}]/.test(s.replace(/\{[+#./;?&=,!@|]?[A-Za-z0-9_.%,*:]+\}/g, ""))) return false;
  const literal = s.replace(/\{[^}]*\}/g, "");
  return !/\s/.test(literal) && (isUri(literal) || URL.canParse(literal, "https://example.invalid/"));
}

export function addOpenApiFormats(ajv: Ajv): void {
  ajv.addFormat("date-time", {
    type: "string",
    validate: (s: string) => {
      const m = DATE_TIME.exec(s);
      return !!m && validDate(m[1]!, m[2]!, m[3]!) && Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 61;
    },
  });
  ajv.addFormat("date", { type: "string", validate: (s: string) => !!DATE.exec(s) && validDate(...(DATE.exec(s)!.slice(1, 4) as [string, string, string])) });
  ajv.addFormat("uri", { type: "string", validate: isUri });
  ajv.addFormat("uri-template", { type: "string", validate: isUriTemplate });
  ajv.addFormat("email", { type: "string", validate: (s: string) => EMAIL.test(s) });
  // OpenAPI's int64 is a signed 64-bit integer; JSON numbers beyond 2^53 lose precision anyway.
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
}
