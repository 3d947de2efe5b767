// The k-means++ rounds of a shared-memory WorkerPool.kmeans go through words of a SharedArrayBuffer, not messages: a
// round is a few hundred microseconds of work, about what a message round trip costs. Control words (Int32Array):
//   [SEED_GEN]      bumped by the caller for each command; workers sleep on it (Atomics.wait)
//   [SEED_PENDING]  workers still busy with the current command; the last one notifies the caller
//   [SEED_CMD]      SEED_NEXT / SEED_FIRST (fold the centroid in, or start from it), or SEED_STOP (leave the loop)
//   [SEED_AT]       where the centroid f32[d] is in the shared memory (a u32 stored as i32)
export const SEED_GEN = 0;
export const SEED_PENDING = 1;
export const SEED_CMD = 2;
export const SEED_AT = 3;
export const SEED_NEXT = 1;
export const SEED_FIRST = 2;
export const SEED_STOP = 3;
