import Foundation
import _AxonKernels

/// The machine Axon runs on: the CPU's name and family, and its measured float32 peak, the limit that
/// `axon-bench` gives every GEMM and training figure against.
public enum Machine {
    /// The CPU's model name ("AMD EPYC 9R14 96-Core Processor"), or "unknown".
    public static var cpuModel: String {
        #if os(macOS)
        var size = 0
        guard sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 else { return "unknown" }
        var bytes = [CChar](repeating: 0, count: size)
        guard sysctlbyname("machdep.cpu.brand_string", &bytes, &size, nil, 0) == 0 else { return "unknown" }
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
        return cpuInfo("model name") ?? "unknown"
        #endif
    }

    /// The x86 CPU family, as `lscpu` prints it (25 for AMD Zen 3 and Zen 4, 26 for Zen 5), when known.
    public static var cpuFamily: Int? { cpuInfo("cpu family").flatMap { Int($0) } }

    /// The x86 CPU model number within its family, as `lscpu` prints it, when known. In family 25 it tells Zen 3
    /// from Zen 4: EPYC Milan (Zen 3) reports 1, EPYC Genoa (Zen 4) 17.
    public static var cpuModelNumber: Int? { cpuInfo("model").flatMap { Int($0) } }

    /// The widest vector instructions Axon's kernels use on this CPU: "AVX-512", "AVX2" (with FMA) or "portable".
    public static var vectorInstructions: String { vectorLanes == 16 ? "AVX-512" : vectorLanes == 8 ? "AVX2" : "portable" }

    /// Float32 lanes of the widest vectors Axon's kernels use on this CPU: 16 (AVX-512), 8 (AVX2 with FMA)
    /// or 4.
    public static var vectorLanes: Int { Int(axon_fma_peak_lanes()) }

    /// The float32 FMA peak in GFLOP/s on `threads` threads: a loop of independent fused multiply-adds on
    /// registers only, in the widest vectors this CPU runs, timed over about `seconds` per round (median of
    /// 5 rounds). No real kernel can go faster; how close one comes is its efficiency.
    public static func measureFMAPeak(threads: Int, seconds: Double = 0.1) -> Double {
        let saved = Threading.threadCount
        Threading.threadCount = threads
        defer { Threading.threadCount = saved }
        func run(_ iterations: Int) -> (seconds: Double, flops: Int) {
            let start = DispatchTime.now().uptimeNanoseconds
            runTasks(threads) { _ in
                // A result that no input can make NaN; the check keeps the loop from being dropped.
                if axon_fma_peak_loop(iterations).isNaN { fatalError("Axon.Machine: the FMA loop gave NaN") }
            }
            return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, axon_fma_peak_flops(iterations) * threads)
        }
        var iterations = 1 << 16
        while run(iterations).seconds < seconds / 4 && iterations < 1 << 40 { iterations *= 2 }
        iterations = Int(Double(iterations) * seconds / max(run(iterations).seconds, 1e-6))
        let rates = (0..<5).map { _ in run(iterations) }.map { Double($0.flops) / $0.seconds / 1e9 }.sorted()
        return rates[2]
    }

    /// The time in nanoseconds for a value to go from one thread to another and back through one cache line (the
    /// median of 5 rounds of `trips` round trips), or nil when this thread may run on only one CPU (a single CPU, or
    /// a process pinned to one) or no thread could be started. A round
    /// of the worker pool pays about that to start its other threads and to learn that they are done, and data one
    /// core wrote comes to the other at that latency: on a shared virtual machine it changes with where the host runs
    /// the two virtual CPUs, and 2-thread figures with it.
    public static func measureCoreRoundTrip(trips: Int = 20_000) -> Double? {
        guard Threading.cpuCount > 1 else { return nil }
        let rounds = (0..<5).map { _ in axon_core_round_trip_ns(trips) }.sorted()
        return rounds[0] < 0 ? nil : rounds[2]
    }

    /// The value of `key` in Linux's /proc/cpuinfo (first processor), when present.
    private static func cpuInfo(_ key: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
