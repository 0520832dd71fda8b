// HTML by tagged template: every interpolated value is escaped unless it is already HTML made here
// (another h`` result), so no page can carry markup from a runner name, a label or a claim.
// Arrays are joined. No client script anywhere: the Content-Security-Policy forbids it.
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function escapeHtml(v: string): string {
  return v.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

type Value = Html | string | number | boolean | null | undefined | Value[];

function render(v: Value): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(String(v));
}

export function h(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

/** Markup written in the code itself (an attribute list, a constant): never pass input here. */
export const trusted = (markup: string) => new Html(markup);
