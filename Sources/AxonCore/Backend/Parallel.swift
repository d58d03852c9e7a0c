import _AxonKernels

/// The persistent worker pool (C, `_AxonKernels/pool.c`) seen from Swift.
public enum Threading {
    /// Threads used by parallel kernels, the calling thread included.
    public static var threadCount: Int {
        get { Int(axon_pool_threads()) }
        set { axon_pool_set_threads(Int32(newValue)) }
    }
    /// Number of online CPUs.
    public static var cpuCount: Int { Int(axon_cpu_count()) }
}

/// The C allocator's settings, which are the whole process's: Axon changes them only when asked.
public enum Allocator {
    /// Fixes glibc's malloc thresholds so that the buffers a training step frees stay in the heap for the
    /// next step instead of being unmapped and faulted in again (axon-bench's conv1 forward and backward: 1700
    /// to 2030 calls/s with them, 421 to 429 without, on a Zen 4). Blocks of 64 MiB and more are still mapped
    /// on their own. The `axon` command,
    /// `axon-bench` and `Trainer` call it; `AXON_MALLOC_TUNING=0` or glibc's own `MALLOC_*_THRESHOLD_`
    /// variables keep glibc's behaviour. Returns whether the settings were applied (false off glibc).
    @discardableResult
    public static func tuneForTraining() -> Bool { axon_tune_allocator() != 0 }
}

/// Context handed through C to the pool's tasks.
private struct TaskContext {
    let body: (Int) -> Void
}

/// Runs `body(t)` for `t` in `0..<tasks` on the worker pool and waits for all of them.
/// `body` must only write to disjoint memory per task.
func runTasks(_ tasks: Int, _ body: (Int) -> Void) {
    if tasks <= 0 { return }
    if tasks == 1 { body(0); return }
    withoutActuallyEscaping(body) { escaping in
        var context = TaskContext(body: escaping)
        withUnsafeMutablePointer(to: &context) { pointer in
            axon_pool_run({ ctx, t in
                ctx!.assumingMemoryBound(to: TaskContext.self).pointee.body(t)
            }, pointer, tasks)
        }
    }
}

/// Splits `0..<count` into contiguous ranges and runs `body` on each, in parallel when `count`
/// holds at least two grains of `grain` elements; below that the work stays on the calling thread.
/// The split only changes which thread runs a range, never what a range computes.
package func parallelFor(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let threads = Threading.threadCount
    if threads <= 1 || count < 2 * grain {
        if count > 0 { body(0..<count) }
        return
    }
    // A multiple of the thread count where there are enough grains, so that equal ranges give every thread the
    // same share (3 ranges on 2 threads left one thread idle for a third of the round: the MLP's batch decode and
    // SGD step both did). Up to 8 per thread: a thread that finishes its own ranges first takes the others' last
    // ones, so a thread slowed down (its data in the other core's cache, an interrupt) holds the round up by at most
    // an eighth of its share. With 4 per thread, the caller of the MLP's SGD step on 2 threads (8 ranges) waited
    // for the worker through 14% and 27% of the round (two runs); with 8, 10% and 2.5% (Intel Xeon, family 6 model 207).
    let grains = count / grain
    let tasks = grains >= threads ? min(threads * 8, grains / threads * threads) : grains
    let chunk = (count + tasks - 1) / tasks
    runTasks(tasks) { t in
        let start = t * chunk
        let end = min(count, start + chunk)
        if start < end { body(start..<end) }
    }
}

/// Whether independent pieces of work of `work` multiply-adds each should run side by side (``concurrently(_:)``)
/// rather than one after another, each split across the threads: on the CPU backend, with more than one thread and no
/// more threads than pieces (each thread then has a whole piece), and pieces big enough to pay for a round of the pool.
package func sideBySide(pieces: Int, work: Int) -> Bool {
    guard work >= 1 << 15 else { return false }  // first: the cheapest test, and a small layer's answer
    let threads = Threading.threadCount
    return threads > 1 && threads <= pieces && Backends.current is CPUBackend
}

/// Runs independent pieces of work side by side, one task each in one round of the pool: the work a piece starts
/// runs on its own thread (a round started inside a task runs inline). Each piece must write only its own results.
package func concurrently(_ pieces: [() -> Void]) {
    runTasks(pieces.count) { pieces[$0]() }
}

/// A raw pointer that may cross into pool tasks (each task writes a disjoint part).
package struct SendablePointer<T>: @unchecked Sendable {
    package let pointer: UnsafeMutablePointer<T>
    package init(pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
