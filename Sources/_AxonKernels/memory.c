// Element memory: tensor buffers and scratch panels come from axon_buffer_alloc and go back through
// axon_buffer_free, which keeps a bounded cache of freed blocks by size; and the C allocator's thresholds for
// training loops.
//
// A training step frees and allocates the same blocks every step (activations, gradients, packed panels). Handed
// to glibc, each large malloc and each free of 64 KiB or more first consolidates the fast bins that the step's
// small objects left behind (malloc_consolidate), on the calling thread between the pool's rounds. The cache gives a
// freed block to the next request of its exact size, newest first (its lines may still be in this core's caches).
// It keeps blocks of 1 KiB up to a quarter of its byte limit (larger ones are glibc's business: with
// Allocator.tuneForTraining, blocks of 64 MiB and more are mapped on their own and unmapped when freed), at most
// AXON_CACHE_SLOTS of them and at most the limit in all, the oldest leaving first. So a process holds at most the
// limit (64 MiB by default) more than it would without the cache: a block of a size no longer asked for leaves as
// newer blocks come in. (A first version also handed cached blocks back to glibc on every miss; in the MLP's step
// that evicted blocks the same step asked for next, and 15 of its 41 requests kept missing.)
#include "AxonKernels.h"
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define AXON_CACHE_SLOTS 128
#define AXON_CACHE_MIN 1024  // smaller blocks are glibc's small bins, which need no consolidation

static struct cached_block { void *ptr; size_t bytes; } cache[AXON_CACHE_SLOTS];  // oldest first
static int cached;             // blocks in the cache
static size_t cached_bytes;
static size_t cache_limit = (size_t)64 << 20;  // blocks of up to a quarter of it are kept
// A spin lock: the cache is held for a scan of at most AXON_CACHE_SLOTS entries, and the pool's tasks allocate their
// scratch at the same moment on every thread, where a mutex would put the second thread to sleep in the kernel.
static int cache_lock;

static void lock(void) {
    for (int spins = 0; __atomic_exchange_n(&cache_lock, 1, __ATOMIC_ACQUIRE); spins++) {
        while (__atomic_load_n(&cache_lock, __ATOMIC_RELAXED)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (++spins > 1000) { sched_yield(); spins = 0; }  // the holder was preempted
        }
    }
}
static void unlock(void) { __atomic_store_n(&cache_lock, 0, __ATOMIC_RELEASE); }

static size_t rounded(size_t bytes) { return ((bytes ? bytes : 1) + 63) & ~(size_t)63; }

// Removes cache[i], keeping the others in order (the caller holds the lock).
static void *take(int i) {
    void *p = cache[i].ptr;
    cached_bytes -= cache[i].bytes;
    memmove(&cache[i], &cache[i + 1], (size_t)(cached - 1 - i) * sizeof cache[0]);
    cached--;
    return p;
}

void *axon_buffer_alloc(size_t bytes) {
    size_t size = rounded(bytes);
    if (size >= AXON_CACHE_MIN) {
        void *hit = NULL;
        lock();
        for (int i = cached - 1; i >= 0; i--)
            if (cache[i].bytes == size) { hit = take(i); break; }
        unlock();
        if (hit) return hit;
    }
    void *p = NULL;
    return posix_memalign(&p, 64, size) == 0 ? p : NULL;
}

void axon_buffer_free(void *p, size_t bytes) {
    if (!p) return;
    size_t size = rounded(bytes);
    void *released[AXON_CACHE_SLOTS];
    int nreleased = 0;
    int kept = 0;
    lock();
    if (size >= AXON_CACHE_MIN && size <= cache_limit / 4) {
        while (cached > 0 && (cached == AXON_CACHE_SLOTS || cached_bytes + size > cache_limit))
            released[nreleased++] = take(0);
        cache[cached].ptr = p;
        cache[cached].bytes = size;
        cached++;
        cached_bytes += size;
        kept = 1;
    }
    unlock();
    for (int i = 0; i < nreleased; i++) free(released[i]);
    if (!kept) free(p);
}

size_t axon_buffer_cache_limit(void) {
    lock();
    size_t limit = cache_limit;
    unlock();
    return limit;
}

void axon_buffer_set_cache_limit(size_t bytes) {
    void *released[AXON_CACHE_SLOTS];
    int nreleased = 0;
    lock();
    cache_limit = bytes;
    while (cached > 0 && cached_bytes > cache_limit) released[nreleased++] = take(0);
    unlock();
    for (int i = 0; i < nreleased; i++) free(released[i]);
}

size_t axon_buffer_cached_bytes(void) {
    lock();
    size_t bytes = cached_bytes;
    unlock();
    return bytes;
}

// glibc's malloc hands large blocks (above a threshold that moves at run time) to mmap and trims the top
// of the heap when enough is free; a training step frees and reallocates the same megabyte-sized buffers
// every step, and depending on where the moving threshold lands, each step can fault its buffers' pages in
// anew. Measured here: conv1 forward+backward ran at 425 calls/s with the defaults and 1050 with the
// settings below. Fixed thresholds make freed buffers stay in the heap for the next step; blocks of
// 64 MiB and more (whole-dataset tensors) are still mapped and unmapped on their own, and peak memory is
// unchanged. A process-wide setting, so it is never applied at load time: the axon command, the benchmark
// and Trainer ask for it (Allocator.tuneForTraining). Set AXON_MALLOC_TUNING=0, or either MALLOC_*_THRESHOLD_
// variable, to keep glibc's behaviour.
#if defined(__GLIBC__)
#include <malloc.h>

int axon_tune_allocator(void) {
    const char *flag = getenv("AXON_MALLOC_TUNING");
    if (flag && strcmp(flag, "0") == 0) return 0;
    if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")) return 0;
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    return 1;
}
#else
int axon_tune_allocator(void) { return 0; }
#endif
