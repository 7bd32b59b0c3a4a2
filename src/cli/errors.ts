/**
 * One-line errors and warnings on stderr, in tcpdump's manner.
 *
 * @module
 */

const enc = new TextEncoder();

/** A usage error: printed as one line, exit code 2 (EXIT_USAGE). */
export class UsageError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong with the command line.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Prints `hone: <message>` on stderr.
 *
 * @param message The line, without the prefix.
 */
export function printError(message: string): void {
  Deno.stderr.writeSync(enc.encode(`hone: ${message}\n`));
}

/**
 * Prints `hone: WARNING: <message>` on stderr.
 *
 * @param message The warning.
 */
export function printWarning(message: string): void {
  Deno.stderr.writeSync(enc.encode(`hone: WARNING: ${message}\n`));
}

/**
 * Turns an OS error into a short reason.
 *
 * @param e The caught value.
 * @returns E.g. "No such file or directory".
 */
export function reason(e: unknown): string {
  if (e instanceof Error) {
    // Deno's messages read "No such file or directory (os error 2): open '/x'".
    return e.message.replace(/ \(os error \d+\).*$/s, "");
  }
  return String(e);
}

/**
 * Prints the stack trace of an error (and of its cause) on stderr, for -v.
 *
 * @param e The caught value.
 */
export function printStack(e: unknown): void {
  for (let x = e, depth = 0; x instanceof Error && depth < 4; depth++) {
    Deno.stderr.writeSync(enc.encode(`${x.stack ?? x.message}\n`));
    x = x.cause;
    if (x instanceof Error) Deno.stderr.writeSync(enc.encode("Caused by: "));
  }
}
