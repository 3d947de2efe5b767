// Heap allocator over linear memory: first-fit over an address-ordered free list, with coalescing.
//
// Why our own: the `stub` runtime never frees, and the TLSF of the other runtimes caps a block at 1 GiB and traps on
// failure. We want blocks up to the 4 GiB wasm32 limit, 64-byte aligned payloads (cache lines, v128 loads) and a
// failure that comes back as 0 instead of a trap. The binding layer allocates rarely (persistent buffers and a reused
// scratch region), so a linear free-list walk is cheap.
//
// Block layout (every block spans a multiple of 64 bytes and starts 16 bytes before a 64-byte boundary):
//   [blk + 0]  u32 size   total bytes of the block, header included
//   [blk + 4]  u32 state  USED or FREE (guards double free and foreign pointers)
//   [blk + 8]  u32 next   next free block by address (free blocks only), 0 = end
//   [blk + 12] u32 spare
//   [blk + 16] payload    64-byte aligned, size - 16 bytes
// Blocks tile [heapStart, heapTop) without gaps; the free list holds every free block in address order, and no free
// block ends at heapTop (free() hands such a block back to the bump region).

const HEADER: u32 = 16;
const ALIGN: u32 = 64;
const USED: u32 = 0x55534544;
const FREE: u32 = 0x46524545;
const PAGE: u64 = 65536;
const MAX_BYTES: u64 = 0x1_0000_0000; // 4 GiB: the wasm32 address space

let heapStart: u32 = 0;
let heapTop: u32 = 0; // end of the last block
// Where the heap may end: 4 GiB, or the end of the arena a worker of the threads build was given (threadInit).
let heapLimit: u64 = MAX_BYTES;
let freeHead: u32 = 0;
let liveBlocks: u32 = 0;
let liveBytes: u64 = 0;

function ensureInit(): void {
  if (heapStart != 0) return;
  let from = <u64>__heap_base;
  if (ASC_FEATURE_THREADS) {
    // the allocating thread's kernel scratch: the first SCRATCH_BYTES of its heap (not the static block, which every
    // worker's instantiation rewrites with the data segments)
    from = (from + <u64>(ALIGN - 1)) & ~<u64>(ALIGN - 1);
    threadScratch = <usize>from;
    from += <u64>SCRATCH_BYTES;
  }
  // first payload on a 64-byte boundary
  const base = (from + <u64>HEADER + <u64>(ALIGN - 1)) & ~<u64>(ALIGN - 1);
  heapStart = <u32>(base - <u64>HEADER);
  heapTop = heapStart;
}

/** Makes sure linear memory covers [0, end). Returns false when memory cannot grow that far. */
function reserve(end: u64): bool {
  if (end > heapLimit) return false;
  const have = <u64>memory.size() * PAGE;
  if (end <= have) return true;
  if (end > MAX_BYTES) return false;
  const pages = <i32>((end - have + PAGE - 1) / PAGE);
  return memory.grow(pages) >= 0;
}

/**
 * Allocates `size` bytes (> 0) and returns a 64-byte-aligned pointer, or 0 when the request cannot fit in 4 GiB or memory
 * cannot grow. Contents are not zeroed.
 */
export function alloc(size: f64): usize {
  ensureInit();
  // f64 so that JS can pass any byte count without BigInt; anything not in (0, 4 GiB] fails here
  if (!(size > 0) || size > <f64>MAX_BYTES) return 0;
  const bytes = <u64>Math.ceil(size);
  const need: u64 = (bytes + <u64>HEADER + <u64>(ALIGN - 1)) & ~<u64>(ALIGN - 1);
  if (need > MAX_BYTES) return 0;
  // first fit in the free list
  let prev: u32 = 0;
  let blk = freeHead;
  while (blk != 0) {
    const size = load<u32>(blk);
    if (<u64>size >= need) {
      const rest = <u64>size - need;
      const next = load<u32>(blk, 8);
      if (rest >= <u64>ALIGN) {
        // split: the tail stays free in the same list position
        const tail = blk + <u32>need;
        store<u32>(tail, <u32>rest);
        store<u32>(tail, FREE, 4);
        store<u32>(tail, next, 8);
        store<u32>(blk, <u32>need);
        linkAfter(prev, tail);
      } else {
        linkAfter(prev, next);
      }
      store<u32>(blk, USED, 4);
      liveBlocks++;
      liveBytes += <u64>load<u32>(blk);
      return <usize>(blk + HEADER);
    }
    prev = blk;
    blk = load<u32>(blk, 8);
  }
  // nothing fits: extend the heap (free() keeps no free block at the top, so the bump region is all there is)
  const start: u64 = <u64>heapTop;
  const end = start + need;
  if (end > MAX_BYTES || !reserve(end)) return 0;
  const blk2 = <u32>start;
  store<u32>(blk2, <u32>need);
  store<u32>(blk2, USED, 4);
  heapTop = <u32>end; // end <= 4 GiB - 16 here: block starts are 16 below a 64-byte boundary
  liveBlocks++;
  liveBytes += need;
  return <usize>(blk2 + HEADER);
}

function linkAfter(prev: u32, blk: u32): void {
  if (prev == 0) freeHead = blk;
  else store<u32>(prev, blk, 8);
}

/**
 * Frees a pointer returned by alloc. Returns 0 on success, 1 for a pointer that is not a live block (ignored). The
 * check reads the block header, so it catches double frees and stray pointers, not a pointer forged to sit after a
 * copy of a header inside another block: only the bindings call free, with pointers they got from alloc.
 */
export function free(ptr: usize): i32 {
  if (ptr == 0 || heapStart == 0) return 1;
  const p = <u64>ptr;
  if (p < <u64>heapStart + <u64>HEADER || p >= <u64>heapTop || (p & <u64>(ALIGN - 1)) != 0) return 1;
  const blk = <u32>p - HEADER;
  if (load<u32>(blk, 4) != USED) return 1;
  let size = load<u32>(blk);
  liveBlocks--;
  liveBytes -= <u64>size;
  store<u32>(blk, FREE, 4);
  // insert in address order, merging with the neighbours
  let prev: u32 = 0;
  let next = freeHead;
  while (next != 0 && next < blk) { prev = next; next = load<u32>(next, 8); }
  let head = blk;
  if (next != 0 && blk + size == next) {
    size += load<u32>(next);
    next = load<u32>(next, 8);
  }
  if (prev != 0 && prev + load<u32>(prev) == blk) {
    head = prev;
    size += load<u32>(prev);
    store<u32>(prev, size);
    store<u32>(prev, next, 8);
  } else {
    store<u32>(blk, size);
    store<u32>(blk, next, 8);
    linkAfter(prev, blk);
  }
  // a free block at the top goes back to the bump region, so that the next large request can reuse its pages
  if (head + load<u32>(head) == heapTop) {
    heapTop = head;
    if (prev != 0 && head == prev) {
      // `prev` is the block that became top: unlink it
      let p: u32 = 0;
      let b = freeHead;
      while (b != head) { p = b; b = load<u32>(b, 8); }
      linkAfter(p, 0);
    } else {
      linkAfter(prev, 0);
    }
  }
  return 0;
}

// Per-thread scratch for the kernels, SCRATCH_BYTES:
//   +0     128 bytes  panels.ts tile (4 x 8 scores)
//   +128   128 bytes  fastscan.ts sums (two queries' u16 sums of one block)
//   +256   16 KiB     panels.ts packed query rows (f32[rows / 4][d][4] of one query chunk)
// A static block in the single-thread builds; in the threads build SCRATCH_BYTES at the start of each instance's own
// heap (ensureInit for the allocating thread, threadInit for a worker), so that two threads never share it.
export const SCRATCH_BYTES: u32 = 256 + 16384;
const STATIC_SCRATCH: usize = memory.data(SCRATCH_BYTES, 64);
let threadScratch: usize = 0;

@inline export function kernelScratch(): usize {
  return ASC_FEATURE_THREADS ? threadScratch : STATIC_SCRATCH;
}

/**
 * Threads build, worker instances only: confines this instance's heap to the arena [base, base + bytes) that the
 * allocating thread carved out of the shared memory for it, so that only that thread ever grows memory or touches
 * the main heap. The first SCRATCH_BYTES become this thread's kernel scratch. Returns 0, or 1 when the arena is too
 * small (at least SCRATCH_BYTES + 4 KiB) or this instance has allocated already.
 */
export function threadInit(base: usize, bytes: f64): i32 {
  if (heapStart != 0 || !(bytes >= <f64>(SCRATCH_BYTES + 4096)) || <f64>base + bytes > <f64>MAX_BYTES) return 1;
  const start = (<u64>base + <u64>(ALIGN - 1)) & ~<u64>(ALIGN - 1);
  threadScratch = <usize>start;
  // first payload on a 64-byte boundary after the scratch
  heapStart = <u32>(start + <u64>SCRATCH_BYTES + <u64>ALIGN - <u64>HEADER);
  heapTop = heapStart;
  heapLimit = <u64>base + <u64>bytes;
  return 0;
}

/** Bytes held by live blocks (headers included). */
export function heapLiveBytes(): f64 {
  return <f64>liveBytes;
}

export function heapLiveBlocks(): u32 {
  return liveBlocks;
}

/** End of the heap: the high-water mark of the block region. */
export function heapEnd(): f64 {
  ensureInit();
  return <f64>heapTop;
}
