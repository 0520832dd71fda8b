// What an installation token looks like. Tokens are opaque: the old form is `ghs_` + 36
// alphanumerics (40 characters); since April 2026 GitHub issues `ghs_<appid>_<JWT>` (about 520
// characters, with dots and underscores; the 40-character ones live until they expire).
// https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-an-installation-access-token-for-a-github-app
// Every check (GitHub's answer, `revoke`'s file, redaction) accepts both, and nothing depends on
// a length beyond these bounds.
export const TOKEN_CHARSET = "A-Za-z0-9_.-";
export const TOKEN_MIN_LENGTH = 20;
export const TOKEN_MAX_LENGTH = 2048;
const TOKEN_RE = new RegExp(`^[${TOKEN_CHARSET}]{${TOKEN_MIN_LENGTH},${TOKEN_MAX_LENGTH}}$`);

/** True for a string that can be an installation token (either form): no whitespace, bounded. */
export function isTokenShaped(value: string): boolean {
  return TOKEN_RE.test(value);
}
