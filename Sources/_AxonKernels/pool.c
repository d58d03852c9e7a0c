// A persistent worker pool: workers spin briefly on a generation counter, then park on a condition
// variable. The calling thread takes part in every job; each thread first runs its own range of the tasks (below).
// One job runs at a time; a call made while another thread's job runs, or from inside a task, runs inline.
//
// Publishing a job takes no lock: the caller makes the generation odd, waits until no worker is still inside the
// previous job, writes the job and makes the generation even again (release). A worker that sees a new even
// generation counts itself inside and looks again: if the generation moved meanwhile, the caller may be writing the
// next job, so it leaves and looks once more; if not, the caller waits for it before writing anything. Only parked
// workers need the mutex and a broadcast. (With the mutex taken for every job, a worker that saw the new generation
// while the caller still held it slept in the kernel and started late: on an Intel Xeon, a quarter of the MLP's
// jobs on 2 threads, the caller then waiting for it at the end of the job.)
#include "AxonKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#define AXON_MAX_THREADS 256
#define AXON_SPIN 4000

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t submit_mutex = PTHREAD_MUTEX_INITIALIZER;

static axon_task_fn job_fn;
static void *job_ctx;
static long pending;              // atomic: tasks not yet finished
static unsigned long generation;  // atomic: even with a job published, odd while the caller writes the next one
static long inside;               // atomic: workers that joined the current job and have not left it
static long parked;               // atomic: workers parked (or about to park) on work_cv

static int threads_wanted = 0;   // 0: not initialised
static int workers_started = 0;  // written under submit_mutex and pool_mutex
static _Thread_local int in_task = 0;

static inline void pause_once(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

int axon_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

// Each participant (the caller is 0, worker w is w + 1) owns a contiguous range of the tasks: task t of n belongs to
// participant t·P/n. It runs its own range first, in order, then claims what is left of the others'. Jobs that split
// the same data the same way (a parameter's update, the product that wrote its gradient, a batch's rows) then find
// their part in their own core's cache, step after step; with one shared counter, which thread took which task
// changed from job to job. A task computes the same values whichever thread runs it.
typedef struct { long next; long end; char pad[48]; } __attribute__((aligned(64))) task_range;
static task_range ranges[AXON_MAX_THREADS];  // next: atomic; end: set with the job
static int job_parts;                        // participants of the current job (ranges in use)

// A thread counts the tasks it runs from a range and takes them off `pending` once it has finished that range: one
// write of the line the caller polls per range, instead of one per task, each of which took the line from the polling
// core. On a Zen 3, 2 threads (medians of 11-21 rounds alternating with the per-task version in one process): rounds of
// 64 tasks of about 0.1 µs ran 1.63-1.66 times as fast; rounds of 2-16 tasks, as the kernels run on 2 threads, 0.98-1.04;
// whole training runs alternating, within their noise (LSTM LM 1.026, Transformer LM 1.006, LeNet 0.977, MLP 0.901 and
// 0.994).
static void run_tasks(axon_task_fn fn, void *ctx, int home) {
    in_task = 1;
    int parts = job_parts;
    for (int r = 0; r < parts; r++) {
        task_range *range = &ranges[(home + r) % parts];
        long done = 0;
        for (;;) {
            long t = __atomic_fetch_add(&range->next, 1, __ATOMIC_ACQ_REL);
            if (t >= range->end) break;
            fn(ctx, t);
            done++;
        }
        if (done > 0) __atomic_fetch_sub(&pending, done, __ATOMIC_ACQ_REL);
    }
    in_task = 0;
}

static void *worker_main(void *arg) {
    long id = (long)arg;
    unsigned long seen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE) & ~1ul;
    for (;;) {
        unsigned long g;
        int spins = 0;
        while ((g = __atomic_load_n(&generation, __ATOMIC_ACQUIRE)) == seen || (g & 1)) {
            if (spins++ < AXON_SPIN) {
                pause_once();
                continue;
            }
            pthread_mutex_lock(&pool_mutex);
            __atomic_add_fetch(&parked, 1, __ATOMIC_SEQ_CST);
            while ((g = __atomic_load_n(&generation, __ATOMIC_SEQ_CST)) == seen || (g & 1)) {
                pthread_cond_wait(&work_cv, &pool_mutex);
            }
            __atomic_sub_fetch(&parked, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&pool_mutex);
            spins = 0;
        }
        seen = g;
        if (id >= __atomic_load_n(&threads_wanted, __ATOMIC_ACQUIRE) - 1) continue;  // not needed at this size
        __atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&generation, __ATOMIC_SEQ_CST) == g) run_tasks(job_fn, job_ctx, (int)id + 1);
        __atomic_sub_fetch(&inside, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void ensure_init(void) {
    if (__atomic_load_n(&threads_wanted, __ATOMIC_ACQUIRE) != 0) return;
    int n = axon_cpu_count();
    const char *env = getenv("AXON_NUM_THREADS");
    if (env) {
        int v = atoi(env);
        if (v >= 1) n = v;
    }
    if (n > AXON_MAX_THREADS) n = AXON_MAX_THREADS;
    int expected = 0;
    __atomic_compare_exchange_n(&threads_wanted, &expected, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

// Starts workers up to threads_wanted - 1. Called with pool_mutex held.
static void start_workers(void) {
    int want = __atomic_load_n(&threads_wanted, __ATOMIC_ACQUIRE) - 1;
    while (workers_started < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, (void *)(long)workers_started) != 0) {
            pthread_attr_destroy(&attr);
            break;
        }
        pthread_attr_destroy(&attr);
        workers_started++;
    }
}

int axon_pool_threads(void) {
    ensure_init();
    return __atomic_load_n(&threads_wanted, __ATOMIC_ACQUIRE);
}

void axon_pool_set_threads(int n) {
    ensure_init();
    if (n < 1) n = 1;
    if (n > AXON_MAX_THREADS) n = AXON_MAX_THREADS;
    __atomic_store_n(&threads_wanted, n, __ATOMIC_RELEASE);
}

void axon_pool_run(axon_task_fn fn, void *ctx, long ntasks) {
    if (ntasks <= 0) return;
    ensure_init();
    if (ntasks == 1 || in_task || axon_pool_threads() == 1 || pthread_mutex_trylock(&submit_mutex) != 0) {
        int was = in_task;
        in_task = 1;
        for (long t = 0; t < ntasks; t++) fn(ctx, t);
        in_task = was;
        return;
    }
    int parts = __atomic_load_n(&threads_wanted, __ATOMIC_ACQUIRE);
    if (workers_started < parts - 1) {  // workers_started changes only here, under submit_mutex
        pthread_mutex_lock(&pool_mutex);
        start_workers();
        pthread_mutex_unlock(&pool_mutex);
    }
    if (parts > workers_started + 1) parts = workers_started + 1;
    const unsigned long g = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    __atomic_store_n(&generation, g + 1, __ATOMIC_SEQ_CST);  // writing: no worker joins from here
    for (int spins = 0; __atomic_load_n(&inside, __ATOMIC_SEQ_CST) > 0;) {  // none may still be in the last job
        if (++spins < AXON_SPIN) pause_once();
        else sched_yield();
    }
    job_fn = fn;
    job_ctx = ctx;
    job_parts = parts;
    for (int i = 0; i < parts; i++) {
        ranges[i].next = ntasks * i / parts;
        ranges[i].end = ntasks * (i + 1) / parts;
    }
    __atomic_store_n(&pending, ntasks, __ATOMIC_RELEASE);
    __atomic_store_n(&generation, g + 2, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&pool_mutex);
        pthread_cond_broadcast(&work_cv);
        pthread_mutex_unlock(&pool_mutex);
    }

    run_tasks(fn, ctx, 0);
    for (int spins = 0; __atomic_load_n(&pending, __ATOMIC_ACQUIRE) != 0;) {
        if (++spins < AXON_SPIN) pause_once();
        else sched_yield();
    }
    pthread_mutex_unlock(&submit_mutex);
}

// ---- grad mode ----
static _Thread_local int grad_disabled = 0;
int axon_grad_disabled_depth(void) { return grad_disabled; }
void axon_grad_disabled_push(void) { grad_disabled++; }
void axon_grad_disabled_pop(void) { if (grad_disabled > 0) grad_disabled--; }

// ---- export trace (AxonCore's ExportTrace) ----
static _Thread_local int export_trace = 0;
int axon_export_trace_depth(void) { return export_trace; }
void axon_export_trace_push(void) { export_trace++; }
void axon_export_trace_pop(void) { if (export_trace > 0) export_trace--; }

// ---- counters ----
static long counters[8];
void axon_counter_add(int which, long delta) {
    if (which >= 0 && which < 8) __atomic_fetch_add(&counters[which], delta, __ATOMIC_RELAXED);
}
long axon_counter_get(int which) {
    return (which >= 0 && which < 8) ? __atomic_load_n(&counters[which], __ATOMIC_RELAXED) : 0;
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
#include <string.h>

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
