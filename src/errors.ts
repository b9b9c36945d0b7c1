// Stable error codes. A code is never renamed or reused once released; scripts and the
// national dashboard match on them. Each code carries the default advice printed by the CLI.
export const ERROR_CODES = {
  USMP_E_USAGE: 'Run the command with --help to see its arguments.',
  USMP_E_CONFIG_NOT_FOUND: 'Check the path given to --config (or create /etc/usmp-edge/config.json).',
  USMP_E_CONFIG_SYNTAX: 'Fix the JSON syntax at the position shown (a trailing comma or a missing quote is typical).',
  USMP_E_CONFIG_INVALID: 'Fix each key listed above; `usmp-edge config check FILE` re-checks the file.',
  USMP_E_DEPENDENCY_MISSING: 'Install the missing program (as root: apt-get install PACKAGE) and try again.',
  USMP_E_PORT_UNAVAILABLE: 'Another program holds this port, or it needs privileges; choose another port.',
  USMP_E_TARGET_UNREACHABLE: 'Check the target address, the route to it, and that the responder runs there (usmp-edge responder).',
  USMP_E_RESPONDER_ABSENT: 'Start `usmp-edge responder` on the hospital side, and open its ports (UDP 862, TCP 5201+) in the firewalls.',
  USMP_E_IPERF_FAILED: 'Check that the responder\'s iperf3 servers run and that TCP 5201+ is open between the sites.',
  USMP_E_MEASUREMENT_TIMEOUT: 'The link or the responder stopped answering during the test; run it again and check the link.',
  USMP_E_PROFILE_UNKNOWN: 'Use one of the profiles listed by `usmp-edge qualify --help`, or define it under profiles in the configuration.',
  USMP_E_ABORTED: 'The run was interrupted; nothing was left running.',
  USMP_E_INTERNAL: 'This is a bug in usmp-edge; report it with the log lines above.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Machine-readable details (never secrets), printed under --json. */
  details?: Record<string, unknown>;
}

/** The one error type of the project: a stable code, what was wrong, and what to do. */
export class UsmpError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UsmpError';
    this.code = code;
    this.hint = options.hint ?? ERROR_CODES[code];
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isUsmpError(value: unknown): value is UsmpError {
  return value instanceof UsmpError;
}

/** Wraps anything thrown into a UsmpError so the CLI can always print a code. */
export function asUsmpError(value: unknown): UsmpError {
  if (isUsmpError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new UsmpError('USMP_E_INTERNAL', message, { cause: value });
}
