// A JWT is judged by GitHub's clock. When this host's clock is off by more than the 60 s the JWT
// is backdated by, GitHub answers 401 with one of these claim messages; the offset is then read
// from the response's Date header and the JWT re-signed once with a corrected clock.
// (Reports: probot/probot#967, tibdex/github-app-token#102.)
const SKEW_MESSAGES = [
  /'Expiration time' claim \('exp'\) is too far in the future/,
  /'Expiration time' claim \('exp'\) must be a numeric value representing the future time/,
  /'Issued at' claim \('iat'\) must be an Integer representing the time/,
];

export function isClockSkewMessage(message: string | undefined): boolean {
  return !!message && SKEW_MESSAGES.some((re) => re.test(message));
}

/** GitHub's clock minus ours, in ms, from a response's Date header; undefined without one. */
export function skewFromDate(dateHeader: string | null, localNowMs: number): number | undefined {
  if (!dateHeader) return undefined;
  const serverMs = Date.parse(dateHeader);
  return Number.isFinite(serverMs) ? serverMs - localNowMs : undefined;
}
