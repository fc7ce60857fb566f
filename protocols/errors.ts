/**
 * Typed errors with stable codes. An Error's class and code do not survive
 * postMessage between threads, so every RooError has a plain wire record.
 */

/** Stable error codes. Never renumber or rename: scripts and logs depend on them. */
export const ErrorCode = {
  FrameTooLarge: 'ROO_ERR_FRAME_TOO_LARGE',
  FrameTruncated: 'ROO_ERR_FRAME_TRUNCATED',
  BadMessage: 'ROO_ERR_BAD_MESSAGE',
  BadVersion: 'ROO_ERR_BAD_VERSION',
  BatchCorrupt: 'ROO_ERR_BATCH_CORRUPT',
  DecoderFailed: 'ROO_ERR_DECODER_FAILED',
  EncoderFailed: 'ROO_ERR_ENCODER_FAILED',
  ComputationFailed: 'ROO_ERR_COMPUTATION_FAILED',
  BadFlag: 'ROO_ERR_BAD_FLAG',
  BadAddress: 'ROO_ERR_BAD_ADDRESS',
  NotYetSupported: 'ROO_ERR_NOT_YET_SUPPORTED',
  ModuleLoad: 'ROO_ERR_MODULE_LOAD',
  BadApplication: 'ROO_ERR_BAD_APPLICATION',
  UnknownKey: 'ROO_ERR_UNKNOWN_KEY',
  QueueFull: 'ROO_ERR_QUEUE_FULL',
  ThreadFailed: 'ROO_ERR_THREAD_FAILED',
  Internal: 'ROO_ERR_INTERNAL',
  /** A worker asked to join under a name a live member already has. */
  DuplicateWorker: 'ROO_ERR_DUPLICATE_WORKER',
  /** A worker runs another application (or plan) than the cluster it tries to join. */
  ClusterMismatch: 'ROO_ERR_CLUSTER_MISMATCH',
  /** An external (admin) request names a command this worker does not know. */
  UnknownRequest: 'ROO_ERR_UNKNOWN_REQUEST',
  /** Resilience files belong to another cluster or application: leftovers to clean up. */
  StaleResilience: 'ROO_ERR_STALE_RESILIENCE',
  /** A snapshot file is truncated, fails its checksum or holds malformed content. */
  SnapshotCorrupt: 'ROO_ERR_SNAPSHOT_CORRUPT',
  /** A snapshot cannot be written: an invalid field, a value msgpackr cannot carry, or too large. */
  SnapshotEncodeFailed: 'ROO_ERR_SNAPSHOT_ENCODE_FAILED',
  /** A receiver's ledger (`roo receive --ledger`) is damaged or disagrees with its output file. */
  LedgerCorrupt: 'ROO_ERR_LEDGER_CORRUPT',
  /**
   * A connection failed the cluster handshake: no or another cluster secret,
   * a proof that does not verify, a handshake not finished in time.
   */
  AuthFailed: 'ROO_ERR_AUTH_FAILED',
  /** A worker stopped answering on the control channel and was treated as lost. */
  WorkerLost: 'ROO_ERR_WORKER_LOST',
  /**
   * A worker's lifecycle refused an event its state does not allow (a
   * cluster shutdown during a recovery, a leave during a reconfiguration).
   */
  IllegalTransition: 'ROO_ERR_ILLEGAL_TRANSITION',
} as const;

/** One of the stable codes of {@link ErrorCode}. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The plain record an error travels as between threads and processes. */
export interface ErrorRecord {
  readonly name: string;
  readonly code: ErrorCodeValue;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Base class of every error roo raises on purpose. */
export class RooError extends Error {
  /** The stable code, e.g. `ROO_ERR_FRAME_TOO_LARGE`. */
  readonly code: ErrorCodeValue;
  /** Extra facts for logs and scripts (sizes, addresses, names). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCodeValue, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RooError';
    this.code = code;
    this.details = details;
  }

  /** The wire record of this error. */
  toRecord(): ErrorRecord {
    return this.details === undefined
      ? { name: this.name, code: this.code, message: this.message }
      : { name: this.name, code: this.code, message: this.message, details: this.details };
  }

  /** Rebuilds an error from its wire record. */
  static fromRecord(record: ErrorRecord): RooError {
    return new RooError(record.code, record.message, record.details);
  }
}

/** Wraps anything thrown (by user code, say) into a RooError with the given code. */
export function asRooError(thrown: unknown, code: ErrorCodeValue, context: string): RooError {
  if (thrown instanceof RooError) return thrown;
  let message: string;
  try {
    message = thrown instanceof Error ? thrown.message : String(thrown);
  } catch {
    // Objects without a usable toString (Object.create(null), a throwing one).
    message = `a thrown ${typeof thrown} that cannot be shown as text`;
  }
  return new RooError(code, `${context}: ${message}`);
}
