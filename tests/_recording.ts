/**
 * A live `hone record` for end-to-end tests: started, and returned once its
 * sensor is listening (its "listening on" line), never after a sleep.
 *
 * @module
 */

import { honeCommand } from "./_helpers.ts";

const dec = new TextDecoder();

/** A running `hone record`. */
export interface Recording {
  /** The process. */
  child: Deno.ChildProcess;
  /** Its stderr so far (all of it once it has ended). */
  stderr: () => string;
  /**
   * Resolves when it has ended: its exit code, all of stderr, and its
   * stdout when that was "piped" and `readStdout` was true.
   */
  done: Promise<{ code: number; stderr: string; stdout: Uint8Array }>;
}

/** Options for {@linkcode startRecord}. */
export interface RecordingOptions {
  /**
   * Read its stdout as it comes. With false and "piped", nobody reads it:
   * once the pipe is full, every write of hone's blocks.
   *
   * @default {true}
   */
  readStdout?: boolean;
  /**
   * Where its stdout goes.
   *
   * @default {"piped"}
   */
  stdout?: "piped" | "null";
}

/**
 * Starts `hone record ARGS` and waits for its "listening on" line.
 *
 * @param args Arguments after `record`.
 * @param options Where stdout goes and whether it is read.
 * @returns The running recording.
 */
export async function startRecord(
  args: string[],
  options: RecordingOptions = {},
): Promise<Recording> {
  const [cmd, pre] = honeCommand();
  const piped = (options.stdout ?? "piped") === "piped";
  const child = new Deno.Command(cmd, {
    args: [...pre, "record", ...args],
    stdin: "null",
    stdout: piped ? "piped" : "null",
    stderr: "piped",
  }).spawn();
  const read = piped && (options.readStdout ?? true);
  const stdout = read
    ? new Response(child.stdout).bytes()
    : Promise.resolve(new Uint8Array(0));
  const reader = child.stderr.getReader();
  let err = "";
  while (!err.includes("listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`hone record ended early: ${err}`);
    err += dec.decode(value);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return err;
      err += dec.decode(value);
    }
  })();
  const done = (async () => {
    const st = await child.status;
    const out = { code: st.code, stderr: await rest, stdout: await stdout };
    if (piped && !read) await child.stdout.cancel();
    return out;
  })();
  return { child, stderr: () => err, done };
}
