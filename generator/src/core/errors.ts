// Every failure the generator reports is a GhappError: a class of failure with the exit code
// it maps to, and a message that says what happened and what to do next. Messages never carry
// key material, a JWT or a token (callers pass GitHub's own message, which carries none).

export const ExitCode = {
  ok: 0,
  /** configuration or input error: missing/invalid variable, bad key, ambiguous installation */
  config: 2,
  /** GitHub rejected the credentials: 401, or a 403 that is not a rate limit */
  credentials: 3,
  /** not found or not accessible: 404, 422 */
  notFound: 4,
  /** GitHub unavailable after retries (5xx, network, rate limit longer than the wait cap) */
  unavailable: 5,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class GhappError extends Error {
  override readonly name = "GhappError";
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const configError = (message: string, details?: Record<string, unknown>) => new GhappError(ExitCode.config, message, details);
export const credentialsError = (message: string, details?: Record<string, unknown>) => new GhappError(ExitCode.credentials, message, details);
export const notFoundError = (message: string, details?: Record<string, unknown>) => new GhappError(ExitCode.notFound, message, details);
export const unavailableError = (message: string, details?: Record<string, unknown>) => new GhappError(ExitCode.unavailable, message, details);
