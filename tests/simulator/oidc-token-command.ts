// `npm run simulator -- oidc-token ...`: asks a running simulator's OIDC issuer for a token
// (POST ORIGIN/_simulator/oidc/token, see oidc-issuer.ts) and prints it on stdout, for the demo and
// for trying the runner broker by hand:
//   curl -H "Authorization: Bearer $(npm run --silent simulator -- oidc-token --url "$ORIGIN" --sub team-a --aud runner-broker)" ...
import { parseArgs } from "node:util";
import { OIDC_ALGS } from "./oidc-issuer.ts";

const USAGE =
  "usage: npm run simulator -- oidc-token --url ORIGIN --sub SUBJECT --aud AUDIENCE [--aud AUDIENCE]... " +
  "[--claim NAME=VALUE]... [--expires-in SECONDS] [--iss ISSUER] [--alg " + OIDC_ALGS.join("|") + "]";

const HELP = `Prints an OIDC token from the simulator's issuer (ORIGIN/oidc), with GitHub Actions' claims.

${USAGE}

  --url ORIGIN          the simulator's origin, e.g. http://127.0.0.1:8080 (a path such as /api/v3 is ignored)
  --sub SUBJECT         the sub claim (required)
  --aud AUDIENCE        the aud claim (required; repeat for several)
  --claim NAME=VALUE    set a claim to a string, over the defaults (repeatable)
  --expires-in SECONDS  lifetime (default 300); --expires-in=-60 gives a token expired a minute ago
  --iss ISSUER          a different iss claim (a token from the wrong issuer)
  --alg ALG             RS256 (default) or a forged token: none, HS256-with-public-key, unknown-kid
  -h, --help            this help

Exit codes: 0 token printed, 2 bad arguments, 3 the simulator could not be reached or refused.`;

/** Runs the subcommand on its arguments; returns the exit code. Output goes to the given streams. */
export async function oidcTokenCommand(
  args: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const usage = (message: string) => {
    err(`simulator oidc-token: ${message}\n${USAGE}\n`);
    return 2;
  };
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        url: { type: "string" },
        sub: { type: "string" },
        aud: { type: "string", multiple: true },
        claim: { type: "string", multiple: true },
        "expires-in": { type: "string" },
        iss: { type: "string" },
        alg: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    return usage((e as Error).message);
  }
  if (values.help) {
    out(`${HELP}\n`);
    return 0;
  }
  if (!values.url) return usage("--url is required");
  if (!values.sub) return usage("--sub is required");
  if (!values.aud?.length) return usage("--aud is required");
  let origin: string;
  try {
    const url = new URL(values.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
    origin = url.origin;
  } catch {
    return usage("--url is not an http(s) URL");
  }
  const claims: Record<string, string> = {};
  for (const c of values.claim ?? []) {
    const eq = c.indexOf("=");
    if (eq < 1) return usage(`--claim wants NAME=VALUE, got "${c.slice(0, 40)}"`);
    claims[c.slice(0, eq)] = c.slice(eq + 1);
  }
  const expiresIn = values["expires-in"];
  if (expiresIn !== undefined && !/^-?\d+$/.test(expiresIn)) return usage("--expires-in is a whole number of seconds");
  if (values.alg !== undefined && !(OIDC_ALGS as readonly string[]).includes(values.alg)) return usage(`--alg must be one of ${OIDC_ALGS.join(", ")}`);

  const body = {
    sub: values.sub,
    aud: values.aud.length === 1 ? values.aud[0] : values.aud,
    claims,
    ...(expiresIn !== undefined ? { expires_in: Number(expiresIn) } : {}),
    ...(values.iss !== undefined ? { iss: values.iss } : {}),
    ...(values.alg !== undefined ? { alg: values.alg } : {}),
  };
  let res: Response;
  try {
    res = await fetch(`${origin}/_simulator/oidc/token`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    err(`simulator oidc-token: cannot reach the simulator at ${origin} (${(e as Error).name}): is it running?\n`);
    return 3;
  }
  const answer = (await res.json().catch(() => null)) as { token?: unknown; message?: unknown } | null;
  if (!res.ok || typeof answer?.token !== "string") {
    const why = typeof answer?.message === "string" ? answer.message.slice(0, 200) : `HTTP ${res.status}`;
    err(`simulator oidc-token: the simulator refused: ${why}\n`);
    return 3;
  }
  out(`${answer.token}\n`);
  return 0;
}
