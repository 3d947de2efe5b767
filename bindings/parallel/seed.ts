// The k-means++ rounds of a shared-memory WorkerPool.kmeans run in one worker (kmSeedAll), the others helping through
// words of a SharedArrayBuffer instead of messages: a round is tens to hundreds of microseconds of work, less than a
// message round trip. Control words (Int32Array of SEED_WORDS):
//   [SEED_GEN]      bumped by the driving worker for each command; helpers wait on it (waitChange: a short poll,
//                   then Atomics.wait)
//   [SEED_PENDING]  helpers still busy with the current command; the last one notifies the driver
//   [SEED_CMD]      SEED_NEXT / SEED_FIRST (fold the centroid in, or start from it), or SEED_STOP (leave the loop)
//   [SEED_AT]       where the centroid f32[d] is in the shared memory (a u32 stored as i32)
//   [SEED_ABORT]    set by the calling thread when any worker of the run failed: the others stop waiting and fail too
//   [SEED_ARG]      private memories: the block SEED_PICK asks for
//   [SEED_ROW]      private memories: the answer to SEED_PICK, the sample's row the draw falls on
// Private memories (each worker holding a copy of its blocks of the sample, where SharedArrayBuffer exists: Node,
// isolated pages): SEED_AT names the centroid by its row in the sample (a SharedArrayBuffer every worker reads), and
// SEED_PICK hands the draw (an f64 in a small mailbox) to the worker that holds the block it falls in. Every helper
// counts ctrl[SEED_PENDING] down for every command, whether it had anything to do.
export const SEED_GEN = 0;
export const SEED_PENDING = 1;
export const SEED_CMD = 2;
export const SEED_AT = 3;
export const SEED_ABORT = 4;
export const SEED_ARG = 5;
export const SEED_ROW = 6;
export const SEED_WORDS = 8;
export const SEED_NEXT = 1;
export const SEED_FIRST = 2;
export const SEED_STOP = 3;
export const SEED_PICK = 4;

/** Atomics.load polls before a wait falls asleep: about 30-60 microseconds on this machine's cores. */
const SPIN = 1 << 15;

/** A sleeping side wakes this often (ms) to look at ctrl[SEED_ABORT], so that no lost or missing wake-up can hold it. */
const WAKE_MS = 20;

/**
 * Returns once ctrl[at] !== value: true, or false if ctrl[SEED_ABORT] was set first (a worker of the run failed or
 * stopped: the caller gives up). The two sides of a round usually finish within microseconds of each other, and
 * waking a thread from Atomics.wait costs tens of microseconds per round (a futex wake, and on a VM an interrupt to
 * the other core), so a short poll comes first; then waits of WAKE_MS, each followed by a look at the abort word.
 */
export function waitChange(ctrl: Int32Array, at: number, value: number): boolean {
  for (let i = 0; i < SPIN; i++) if (Atomics.load(ctrl, at) !== value) return true;
  for (;;) {
    if (Atomics.load(ctrl, SEED_ABORT) !== 0) return false;
    Atomics.wait(ctrl, at, value, WAKE_MS);
    if (Atomics.load(ctrl, at) !== value) return true;
  }
}

/** Tells every side of a seeding run to give up (the calling thread, when one of the workers' calls failed). */
export function abortSeeding(ctrl: Int32Array): void {
  Atomics.store(ctrl, SEED_ABORT, 1);
  Atomics.notify(ctrl, SEED_GEN);
  Atomics.notify(ctrl, SEED_PENDING);
}
