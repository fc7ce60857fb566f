/**
 * What a request to grow or shrink a running cluster carries, and what the
 * coordinator answers (shared by the external channel, `roo shrink` and the
 * control channel). Pure data.
 */

/** `roo shrink`: the workers to leave by name, or how many, or only the query. */
export interface ShrinkRequest {
  /** Names of the workers that should leave (empty when `count` is used). */
  readonly workers: readonly string[];
  /** How many workers should leave (0 when `workers` is used or for a query). */
  readonly count: number;
  /** Only list the workers that may leave; change nothing. */
  readonly query: boolean;
}

/** The coordinator's answer to a shrink request. */
export interface ShrinkOutcome {
  /** True if the request was taken (a shrink ran, or the query was answered). */
  readonly ok: boolean;
  /** What happened, or why the request was refused, in one sentence. */
  readonly message: string;
  /** The workers that left (empty for a query or a refusal). */
  readonly leaving: readonly string[];
  /** The workers that may leave now. */
  readonly eligible: readonly string[];
  /** The cluster's members after the request. */
  readonly members: readonly string[];
}
