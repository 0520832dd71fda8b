// An installation token kept for a long-running service: minted on first use, reused while it
// has more than `renewBeforeMs` left, renewed by one caller while the others wait for the same
// answer (single flight). Expiry is judged in GitHub's time (the client's githubNow(), learnt from
// its Date headers), as the sidecar's schedule is: by a host clock that runs ahead every token looks
// expired and would be minted again on every call; a 401 from GitHub makes the caller drop the
// token (invalidate()).
import { createInstallationToken } from "./access-token.ts";
import type { Auth, GitHubClient } from "./github-client.ts";

export interface InstallationTokenCacheOptions {
  client: GitHubClient;
  appAuth: Auth;
  installationId: () => Promise<number>;
  /** renew when less than this is left (default 10 minutes of the hour) */
  renewBeforeMs?: number;
  /** the clock expiry is judged by; GitHub's (client.githubNow()) by default */
  now?: () => number;
  /** called after each mint (metrics) */
  onMint?: (expiresAtMs: number) => void;
}

export class InstallationTokenCache {
  private current: { token: string; expiresAtMs: number } | undefined;
  private pending: Promise<string> | undefined;
  private readonly now: () => number;
  private readonly renewBeforeMs: number;

  constructor(private readonly o: InstallationTokenCacheOptions) {
    this.now = o.now ?? (() => o.client.githubNow());
    this.renewBeforeMs = o.renewBeforeMs ?? 10 * 60_000;
  }

  /** A token with at least renewBeforeMs left. */
  async token(): Promise<string> {
    if (this.current && this.current.expiresAtMs - this.now() > this.renewBeforeMs) return this.current.token;
    this.pending ??= this.mint().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forget the token (GitHub refused it). */
  invalidate(): void {
    this.current = undefined;
  }

  /** When the held token expires (ms), or undefined. */
  get expiresAtMs(): number | undefined {
    return this.current?.expiresAtMs;
  }

  private async mint(): Promise<string> {
    const id = await this.o.installationId();
    // createInstallationToken has checked the answer: a token of token characters (either form)
    // and an expires_at that parses and lies within a day of GitHub's clock.
    const t = await createInstallationToken(this.o.client, this.o.appAuth, id, { repositories: [] });
    const expiresAtMs = Math.min(Date.parse(t.expiresAt), this.now() + 3_600_000);
    this.current = { token: t.token, expiresAtMs };
    this.o.onMint?.(expiresAtMs);
    return t.token;
  }
}
