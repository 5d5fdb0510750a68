/**
 * Operating errors: one code per condition a caller may handle, and one table
 * that maps every code to the errno a FUSE client sees, the number carried on
 * the wire, the HTTP status of the control API and the CLI exit code.
 *
 * @module
 */

/**
 * Exit codes of the `ukai` command (documented in docs/cli.md): 0 ok, 1 the
 * operation failed or was refused, 2 usage error, 3 the control API cannot be
 * reached, 130 interrupted while waiting (the operation goes on).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, interrupted: 130 } as const;

/** Every operating error, with how it surfaces at each boundary. */
export const ERROR_TABLE = {
  INVALID_ARGUMENT: { errno: 22, wire: 1, http: 400, exit: EXIT.usage },
  IMAGE_NOT_FOUND: { errno: 2, wire: 2, http: 404, exit: EXIT.failed },
  IMAGE_EXISTS: { errno: 17, wire: 3, http: 409, exit: EXIT.failed },
  NODE_NOT_FOUND: { errno: 2, wire: 4, http: 404, exit: EXIT.failed },
  NODE_EXISTS: { errno: 17, wire: 5, http: 409, exit: EXIT.failed },
  IMAGE_BUSY: { errno: 16, wire: 6, http: 409, exit: EXIT.failed },
  LAST_IN_SYNC_LOCATION: { errno: 16, wire: 7, http: 409, exit: EXIT.failed },
  NO_IN_SYNC_LOCATION: { errno: 5, wire: 8, http: 503, exit: EXIT.failed },
  NOT_LEADER: { errno: 11, wire: 9, http: 503, exit: EXIT.failed },
  NO_QUORUM: { errno: 11, wire: 10, http: 503, exit: EXIT.failed },
  TIMEOUT: { errno: 110, wire: 11, http: 504, exit: EXIT.failed },
  CHECKSUM_MISMATCH: { errno: 5, wire: 12, http: 500, exit: EXIT.failed },
  PROTOCOL: { errno: 71, wire: 13, http: 502, exit: EXIT.failed },
  AUTH_FAILED: { errno: 13, wire: 14, http: 401, exit: EXIT.failed },
  CONFIG: { errno: 22, wire: 15, http: 400, exit: EXIT.usage },
  STALE_EPOCH: { errno: 5, wire: 16, http: 409, exit: EXIT.failed },
  NOT_OWNER: { errno: 5, wire: 17, http: 409, exit: EXIT.failed },
  NOT_A_LOCATION: { errno: 5, wire: 18, http: 409, exit: EXIT.failed },
  PERMISSION_DENIED: { errno: 1, wire: 19, http: 403, exit: EXIT.failed },
  OUT_OF_RANGE: { errno: 28, wire: 20, http: 400, exit: EXIT.usage },
  BLOCK_FILE_CORRUPT: { errno: 5, wire: 21, http: 500, exit: EXIT.failed },
  NO_SPACE: { errno: 28, wire: 22, http: 507, exit: EXIT.failed },
  UNREACHABLE: { errno: 5, wire: 23, http: 503, exit: EXIT.failed },
  IO: { errno: 5, wire: 24, http: 500, exit: EXIT.failed },
  CONFLICT: { errno: 16, wire: 25, http: 409, exit: EXIT.failed },
  SHUTTING_DOWN: { errno: 108, wire: 26, http: 503, exit: EXIT.failed },
  NOT_FOUND: { errno: 2, wire: 27, http: 404, exit: EXIT.failed },
  /** The CLI cannot reach the control API (never sent by a server: peers are UNREACHABLE). */
  CONTROL_UNREACHABLE: { errno: 111, wire: 28, http: 503, exit: EXIT.unreachable },
} as const satisfies Record<string, { errno: number; wire: number; http: number; exit: number }>;

/** The name of an operating error. */
export type ErrorCode = keyof typeof ERROR_TABLE;

/** An operating error: expected, handled, and reported with its code. */
export class UkaiError extends Error {
  override name = "UkaiError";
  readonly code: ErrorCode;
  /** Extra machine-readable facts (for example the blocks a refusal is about). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: ErrorOptions & { details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.code = code;
    this.details = options?.details;
  }

  /** The errno a FUSE client sees for this error. */
  get errno(): number {
    return ERROR_TABLE[this.code].errno;
  }
}

const codeByWire = new Map<number, ErrorCode>(
  Object.entries(ERROR_TABLE).map(([code, row]) => [row.wire, code as ErrorCode]),
);

/** The code carried on the wire as `wire`, or undefined for an unknown number. */
export function errorCodeFromWire(wire: number): ErrorCode | undefined {
  return codeByWire.get(wire);
}

/** Whether `value` names an error code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_TABLE, value);
}

/** The errno for any thrown value: the table's for a UkaiError, EIO otherwise. */
export function errnoOf(error: unknown): number {
  return error instanceof UkaiError ? error.errno : ERROR_TABLE.IO.errno;
}

/** A short description of any thrown value, for logs and error lines. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
