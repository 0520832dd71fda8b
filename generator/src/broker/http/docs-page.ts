// /docs: a readable API page rendered on the server from the OpenAPI document itself, so it
// works without internet (no CDN, no script) and can never disagree with /openapi.json.
const esc = (s: unknown) =>
  String(s ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

type Doc = { info?: { title?: string; version?: string; description?: string }; paths?: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, unknown> } };
type Operation = { summary?: string; tags?: string[]; security?: unknown[]; parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>; requestBody?: { content?: Record<string, { schema?: unknown }> }; responses?: Record<string, { description?: string }> };

const REF = "#/components/schemas/";

/** A schema as JSON; a reference to a named schema is shown resolved, with a link to its section. */
function schemaBlock(schema: unknown, schemas: Record<string, unknown>): string {
  const ref = (schema as { $ref?: unknown } | undefined)?.$ref;
  if (typeof ref === "string" && ref.startsWith(REF)) {
    const name = ref.slice(REF.length);
    return `<p>schema <a href="#schema-${esc(name)}">${esc(name)}</a></p><pre>${esc(JSON.stringify(schemas[name] ?? {}, null, 2))}</pre>`;
  }
  return `<pre>${esc(JSON.stringify(schema, null, 2))}</pre>`;
}

export function renderDocsPage(doc: Doc): string {
  const ops: string[] = [];
  const named = doc.components?.schemas ?? {};
  const nav: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(methods)) {
      const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
      nav.push(`<li><a href="#${esc(id)}"><code>${esc(method.toUpperCase())} ${esc(path)}</code></a></li>`);
      const params = (op.parameters ?? []).map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? "yes" : "no"}</td><td><code>${esc(JSON.stringify(p.schema ?? {}))}</code></td></tr>`).join("");
      const body = op.requestBody?.content ? Object.entries(op.requestBody.content).map(([type, c]) => `<h4>Request body (${esc(type)})</h4>${schemaBlock(c.schema, named)}`).join("") : "";
      const responses = Object.entries(op.responses ?? {}).map(([status, r]) => `<tr><td><code>${esc(status)}</code></td><td>${esc(r.description)}</td></tr>`).join("");
      ops.push(
        `<section id="${esc(id)}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>` +
          `<p>${esc(op.summary)}${op.security?.length ? ' <span class="auth">needs a Bearer OIDC token</span>' : ""}</p>` +
          (params ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>${params}</table>` : "") +
          body +
          `<h4>Responses</h4><table><tr><th>status</th><th>meaning</th></tr>${responses}</table></section>`,
      );
    }
  }
  const schemas = Object.entries(named).map(([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${schemaBlock(s, named)}</section>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info?.title)} ${esc(doc.info?.version)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1f2328}
nav{width:22rem;padding:1rem;background:#f6f8fa;height:100vh;overflow:auto;position:sticky;top:0;box-sizing:border-box}
nav ul{list-style:none;padding:0}main{padding:1rem 2rem;max-width:60rem}
pre{background:#f6f8fa;padding:.75rem;overflow:auto;border-radius:6px}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left}
.m{display:inline-block;min-width:4rem;padding:0 .4rem;border-radius:4px;color:#fff;background:#57606a;font-size:.8em;text-align:center}
.get{background:#0969da}.post{background:#1a7f37}.delete{background:#cf222e}.auth{font-size:.8em;color:#9a6700}
section{border-bottom:1px solid #d0d7de;padding-bottom:1rem}
</style></head>
<body><nav><h2>${esc(doc.info?.title)}</h2><p>version ${esc(doc.info?.version)} · <a href="/openapi.json">openapi.json</a></p><ul>${nav.join("")}</ul></nav>
<main><h1>${esc(doc.info?.title)}</h1><p>${esc(doc.info?.description)}</p><h2>Operations</h2>${ops.join("")}<h2>Schemas</h2>${schemas}</main></body></html>`;
}
