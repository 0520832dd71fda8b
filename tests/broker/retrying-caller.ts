// A caller of several broker replicas, for the availability tests: a load-balancer stand-in that
// round-robins over the replicas it currently routes to (as a Kubernetes Service over its ready
// endpoints), and a client that retries exactly what it is told to retry and nothing else:
// - a connection refused (the replica it was routed to is stopping or restarting: the request
//   never reached a broker), at once, on the next replica;
// - a 503 with Retry-After (the broker says "try again"), after Retry-After, capped at 1 s so
//   the tests stay short: waiting less than told only makes more requests meet the outage.
// Anything else (a reset connection, a 500, a 503 without Retry-After, a 409) is a failure the
// tests report. Provisions send runner_name_prefix, as a retrying caller should: a retry after a
// 503 must not depend on the name the failed attempt reserved.

export class LoadBalancer {
  private backends: string[] = [];
  private n = 0;
  constructor(initial: string[] = []) {
    this.backends = [...initial];
  }
  add(url: string): void {
    if (!this.backends.includes(url)) this.backends.push(url);
  }
  remove(url: string): void {
    this.backends = this.backends.filter((b) => b !== url);
  }
  get size(): number {
    return this.backends.length;
  }
  next(): string {
    const url = this.backends[this.n++ % Math.max(1, this.backends.length)];
    if (!url) throw new Error("the load balancer has no replica to route to");
    return url;
  }
}

export interface Outcome {
  /** the final answer's status, or undefined when the request failed without one */
  status?: number;
  /** the final answer's body (JSON), when there was one */
  json?: any;
  /** what went wrong, when the final answer is not the one expected */
  failure?: string;
  retries: { refused: number; retryAfter: number };
}

const isRefused = (e: unknown) => {
  const err = e as { code?: string; message?: string };
  return err?.code === "ConnectionRefused" || err?.code === "ECONNREFUSED" || /Unable to connect|ECONNREFUSED/i.test(err?.message ?? "");
};

export class RetryingCaller {
  constructor(
    private readonly lb: LoadBalancer,
    private readonly token: () => Promise<string> | string,
    private readonly deadlineMs = 60_000,
  ) {}

  /** One request, retried as above until `expected` or a failure (or the deadline). */
  async call(method: string, path: string, body: unknown, expected: number): Promise<Outcome> {
    const retries = { refused: 0, retryAfter: 0 };
    const deadline = Date.now() + this.deadlineMs;
    for (;;) {
      if (Date.now() > deadline) return { retries, failure: `still retrying after ${this.deadlineMs} ms` };
      const url = this.lb.next();
      let res: Response;
      try {
        // A new connection per request: a kept-alive one that a stopping replica closes would make
        // "was it processed?" unanswerable, which no load balancer in front of the broker asks either.
        res = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${await this.token()}`, "content-type": "application/json", connection: "close" },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          keepalive: false,
        });
      } catch (e) {
        if (isRefused(e)) {
          retries.refused++;
          await Bun.sleep(20);
          continue;
        }
        return { retries, failure: `request failed without an answer: ${(e as { code?: string }).code ?? ""} ${(e as Error).message}` };
      }
      const text = await res.text();
      let json: any;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {}
      const retryAfter = res.headers.get("retry-after");
      if (res.status === 503 && retryAfter !== null && /^\d+$/.test(retryAfter)) {
        retries.retryAfter++;
        await Bun.sleep(Math.min(1000, Number(retryAfter) * 1000));
        continue;
      }
      if (res.status === expected) return { status: res.status, json, retries };
      return { status: res.status, json, retries, failure: `answered ${res.status} ${json?.type ?? ""}: ${text.slice(0, 300)}` };
    }
  }

  provision(prefix: string): Promise<Outcome> {
    return this.call("POST", "/api/v1/runners/provision", { runner_name_prefix: prefix, labels: ["team-a"] }, 201);
  }
}

/** `workers` callers provisioning in a loop until stop(); stop() returns every outcome. */
export function provisionLoad(caller: RetryingCaller, workers: number, prefix: string): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let stopping = false;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopping) {
      outcomes.push(await caller.provision(prefix));
      await Bun.sleep(25);
    }
  });
  return {
    outcomes,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** A summary for assertion messages: how many succeeded, retried, failed, and the first failures. */
export function summary(outcomes: Outcome[]) {
  const failures = outcomes.filter((o) => o.failure).map((o) => o.failure!);
  return {
    requests: outcomes.length,
    succeeded: outcomes.filter((o) => !o.failure).length,
    retriedRefused: outcomes.reduce((n, o) => n + o.retries.refused, 0),
    retriedAfter503: outcomes.reduce((n, o) => n + o.retries.retryAfter, 0),
    failures: failures.slice(0, 5),
    failureCount: failures.length,
  };
}
