// GITHUB_WEBHOOK_SECRET_FILE: the GitHub App's webhook secret, mounted as a file (a Kubernetes
// Secret). Read once at start; surrounding whitespace (a trailing newline) is not part of it.
// Errors name the variable and the path, never a byte of the content.
import { readFileSync, statSync } from "node:fs";
import { configError } from "../core/errors.ts";

const NAME = "GITHUB_WEBHOOK_SECRET_FILE";
/** Shorter secrets are guessable offline from one captured delivery; GitHub suggests a random string with high entropy. */
export const MIN_SECRET_LENGTH = 16;
const MAX_SECRET_BYTES = 4096;

export function readWebhookSecretFile(path: string): string {
  let text: string;
  try {
    if (statSync(path).size > MAX_SECRET_BYTES) throw configError(`${NAME} ${path} is larger than ${MAX_SECRET_BYTES} bytes: it must hold only the webhook secret`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof Error && e.name === "GhappError") throw e;
    throw configError(`${NAME} ${path} cannot be read: check the path and that the broker's user may read it`);
  }
  const secret = text.trim();
  if (secret.length < MIN_SECRET_LENGTH) {
    throw configError(`${NAME} ${path} holds ${secret.length === 0 ? "nothing" : `fewer than ${MIN_SECRET_LENGTH} characters`}: put the GitHub App's webhook secret there, a random string such as the output of \`openssl rand -hex 32\``);
  }
  return secret;
}
