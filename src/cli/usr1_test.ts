import assert from "node:assert/strict";
import { watchCountsSignal } from "./usr1.ts";

// The test process does not block SIGUSR1, and a SIGUSR1 that reaches any
// of its threads opens Deno's inspector. So these tests block it on this
// thread only and send it to this thread only (tgkill): it stays pending
// here, where sigtimedwait takes it, and no other thread ever sees it.
const SIGUSR1 = 10;
const SIG_BLOCK = 0;
const SIG_UNBLOCK = 1;

const libc = Deno.dlopen("libc.so.6", {
  pthread_sigmask: { parameters: ["i32", "buffer", "pointer"], result: "i32" },
  sigpending: { parameters: ["buffer"], result: "i32" },
  tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
  gettid: { parameters: [], result: "i32" },
});

function usr1Set(): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(128);
  new BigUint64Array(set.buffer)[0] = 1n << BigInt(SIGUSR1 - 1);
  return set;
}

function usr1Pending(): boolean {
  const set = new Uint8Array(128);
  assert.equal(libc.symbols.sigpending(set), 0);
  return (new BigUint64Array(set.buffer)[0]! >> 9n & 1n) === 1n;
}

function sendToThisThread(): void {
  assert.equal(
    libc.symbols.tgkill(Deno.pid, libc.symbols.gettid(), SIGUSR1),
    0,
  );
}

/** Runs `fn` with SIGUSR1 blocked on this thread, and none left pending. */
async function withUsr1Blocked(fn: () => Promise<void> | void) {
  assert.equal(libc.symbols.pthread_sigmask(SIG_BLOCK, usr1Set(), null), 0);
  try {
    await fn();
  } finally {
    // Unblocking a pending SIGUSR1 would open the inspector.
    if (!usr1Pending()) {
      libc.symbols.pthread_sigmask(SIG_UNBLOCK, usr1Set(), null);
    }
  }
}

Deno.test({
  name: "watchCountsSignal() takes a blocked SIGUSR1 when polled",
  sanitizeResources: false, // libc stays open for the process
  async fn() {
    await withUsr1Blocked(() => {
      let calls = 0;
      using watch = watchCountsSignal(() => calls++);
      watch.poll();
      assert.equal(calls, 0);
      sendToThisThread();
      sendToThisThread(); // pending signals merge into one
      assert.ok(usr1Pending());
      watch.poll();
      assert.equal(calls, 1);
      assert.ok(!usr1Pending());
      watch.poll();
      assert.equal(calls, 1);
    });
  },
});

Deno.test({
  name: "watchCountsSignal() takes a blocked SIGUSR1 on its timer",
  sanitizeResources: false,
  async fn() {
    await withUsr1Blocked(async () => {
      const { promise, resolve } = Promise.withResolvers<void>();
      using _watch = watchCountsSignal(resolve);
      sendToThisThread();
      let timeout: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timeout = setTimeout(() => reject(new Error("no call in 10 s")), 1e4);
      });
      try {
        await Promise.race([promise, late]);
      } finally {
        clearTimeout(timeout);
      }
      assert.ok(!usr1Pending());
    });
  },
});

Deno.test({
  name: "watchCountsSignal() ignores errors of its callback",
  sanitizeResources: false,
  async fn() {
    await withUsr1Blocked(() => {
      let calls = 0;
      using watch = watchCountsSignal(() => {
        calls++;
        throw new Error("stderr is closed");
      });
      sendToThisThread();
      watch.poll();
      assert.equal(calls, 1);
    });
  },
});

Deno.test({
  name: "watchCountsSignal() stops polling once stopped",
  sanitizeResources: false,
  async fn() {
    await withUsr1Blocked(() => {
      let calls = 0;
      const watch = watchCountsSignal(() => calls++);
      watch.stop();
      watch.stop();
      sendToThisThread();
      watch.poll();
      assert.equal(calls, 0);
      assert.ok(usr1Pending());
      // Take it back, so that it cannot open the inspector.
      const again = watchCountsSignal(() => calls++);
      again.poll();
      again.stop();
      assert.equal(calls, 1);
    });
  },
});

Deno.test({
  name: "watchCountsSignal() listens where SIGUSR1 is not blocked",
  sanitizeResources: false,
  fn() {
    // No signal is sent: that would open the inspector of this process.
    const watch = watchCountsSignal(() => {});
    watch.poll();
    watch.stop();
  },
});
