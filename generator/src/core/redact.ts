// Defence in depth: the code never logs a secret on purpose, and this masks anything shaped like
// one anyway, in the message and in every nested field: GitHub tokens (ghs_, ghp_, gho_, ghu_,
// github_pat_), JWTs, and PEM blocks.
//
// Both installation-token forms: `ghs_` + 36 alphanumerics, and `ghs_<appid>_<JWT>` (dots and
// underscores, ~520 characters): the token pattern runs over the whole token charset, and the JWT
// pattern needs no word boundary, since `_eyJ` has none.
const PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  /github_pat_[A-Za-z0-9_]{20,}/g,
  /gh[opsur]_[A-Za-z0-9_.-]{16,}/g,
  /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
];

export const REDACTED = "[REDACTED]";

export function redactString(text: string): string {
  let out = text;
  for (const re of PATTERNS) out = out.replace(re, REDACTED);
  return out;
}

/** Returns a copy of `value` with every string redacted, however deeply nested. */
export function redact<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value === "string") return redactString(value) as T;
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[circular]" as T;
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, seen)) as T;
  if (value instanceof Error) return { name: value.name, message: redactString(value.message) } as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redact(v, seen);
  return out as T;
}
