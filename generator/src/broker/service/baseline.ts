// The runners that were in a runner group before the broker first looked at it. The broker never
// touches them: an operator who points a policy at a group with runners in it must not lose
// those runners to the verification that removes runners the broker did not provision.
import type { GitHubRunnerApi } from "../github-runners.ts";
import type { Storage } from "../storage/storage.ts";

export class Baseline {
  private readonly known = new Set<number>();

  constructor(
    private readonly storage: Storage,
    private readonly github: GitHubRunnerApi,
    /** the organisation whose groups these are (runner group ids repeat across organisations); "" for one organisation before migration 7 */
    private readonly org = "",
  ) {}

  /**
   * Records the group's baseline unless one exists (another replica or an earlier start may have
   * recorded it). Runners the broker already knows (by GitHub id or live name) are not baseline.
   */
  async ensure(runnerGroupId: number): Promise<void> {
    if (this.known.has(runnerGroupId)) return;
    if ((await this.storage.listBaselineGroups(this.org)).includes(runnerGroupId)) {
      this.known.add(runnerGroupId);
      return;
    }
    const runners = await this.github.listGroupRunners(runnerGroupId);
    const foreign: { githubRunnerId: number; name: string }[] = [];
    for (const r of runners) {
      const byId = await this.storage.getRunnerByGithubId(r.id);
      const byName = byId ?? (await this.storage.getRunnerByName(r.name));
      if (!byName) foreign.push({ githubRunnerId: r.id, name: r.name });
    }
    await this.storage.recordBaseline(runnerGroupId, foreign, this.org);
    this.known.add(runnerGroupId);
  }
}
