/** Bad input is the user's to fix (exit 2); a runtime failure is ours or the machine's (exit 1). */
export type LegalAttnErrorCode = 'bad-input' | 'runtime';

/**
 * The one error the library raises on purpose. Its message is a single sentence a
 * user can act on: it names the file, line or field at fault and says what to do.
 */
export class LegalAttnError extends Error {
  readonly code: LegalAttnErrorCode;

  constructor(message: string, code: LegalAttnErrorCode = 'bad-input', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LegalAttnError';
    this.code = code;
  }
}

export const badInput = (message: string, cause?: unknown): LegalAttnError =>
  new LegalAttnError(message, 'bad-input', cause === undefined ? undefined : { cause });

export const runtimeFailure = (message: string, cause?: unknown): LegalAttnError =>
  new LegalAttnError(message, 'runtime', cause === undefined ? undefined : { cause });

/** Exit codes documented in the README: 0 ok, 1 runtime failure, 2 bad input. */
export const exitCodeOf = (error: unknown): 1 | 2 =>
  error instanceof LegalAttnError && error.code === 'bad-input' ? 2 : 1;
