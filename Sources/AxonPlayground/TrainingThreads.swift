import Foundation

/// Dedicated threads that run the sessions' work (training epochs, and the requests that read a session's
/// network), outside Swift's cooperative thread pool: however many sessions train, the pool stays free to
/// accept connections, parse requests and stream events. Each session is a ``SessionExecutor``, a serial
/// strand on these threads; strands take turns in arrival order, one job at a time, so a session that
/// trains cannot hold a thread while others wait.
final class TrainingThreads: @unchecked Sendable {
    /// The process's threads: one fewer than the cores (at least one), leaving a core for the server.
    static let shared = TrainingThreads(count: max(1, ProcessInfo.processInfo.activeProcessorCount - 1))

    private let condition = NSCondition()
    private var ready: [SessionExecutor] = []  // strands with work, in arrival order (guarded by `condition`)
    private var head = 0

    /// Number of threads.
    let count: Int

    init(count: Int) {
        self.count = count
        for i in 0..<count {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "axon-playground-\(i)"
            thread.start()
        }
    }

    func schedule(_ strand: SessionExecutor) {
        condition.lock()
        ready.append(strand)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == ready.count { condition.wait() }
            let strand = ready[head]
            head += 1
            if head > 1024 && head * 2 > ready.count {  // drop the consumed prefix now and then
                ready.removeFirst(head)
                head = 0
            }
            condition.unlock()
            strand.runNext()
        }
    }
}

/// A session's serial executor: its jobs run one at a time, in order, on ``TrainingThreads``.
final class SessionExecutor: SerialExecutor, @unchecked Sendable {
    private let threads: TrainingThreads
    private let lock = NSLock()
    private var jobs: [UnownedJob] = []  // guarded by `lock`
    private var scheduled = false  // whether the strand is in the threads' queue or running

    init(threads: TrainingThreads = .shared) { self.threads = threads }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        jobs.append(job)
        let start = !scheduled
        scheduled = true
        lock.unlock()
        if start { threads.schedule(self) }
    }

    /// Runs one job, then goes to the back of the line if more are waiting.
    func runNext() {
        lock.lock()
        let job = jobs.removeFirst()
        lock.unlock()
        job.runSynchronously(on: asUnownedSerialExecutor())
        lock.lock()
        let more = !jobs.isEmpty
        if !more { scheduled = false }
        lock.unlock()
        if more { threads.schedule(self) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}
