/**
 * hone's exit codes, in one place.
 *
 * @module
 */

/** Success. */
export const EXIT_OK = 0;
/** A runtime failure: bad input, a missing capability, a full disk. */
export const EXIT_FAILURE = 1;
/** A usage error: an unknown flag or a bad value. */
export const EXIT_USAGE = 2;
