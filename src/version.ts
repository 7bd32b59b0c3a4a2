/**
 * The version of hone, written into every capture's section header.
 *
 * @module
 */

/** hone's version string, e.g. `0.1.0`. */
export const VERSION = "0.1.0";
