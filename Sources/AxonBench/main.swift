import Axon
import Foundation

// Axon's benchmark (first cut: GEMM throughput). Run with `swift run -c release axon-bench`.
func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Median GFLOP/s of `matmul` on [m, k] x [k, n].
func gemmRate(_ m: Int, _ k: Int, _ n: Int) -> Double {
    let a = Tensor.randn([m, k]), b = Tensor.randn([k, n])
    _ = matmul(a, b)
    let flops = 2.0 * Double(m * n * k)
    let reps = max(3, min(200, Int(2e9 / flops)))
    var times: [Double] = []
    for _ in 0..<5 {
        times.append(seconds { for _ in 0..<reps { _ = matmul(a, b) } } / Double(reps))
    }
    return flops / times.sorted()[2] / 1e9
}

let args = CommandLine.arguments.dropFirst()
let threadCounts = args.isEmpty ? [1, Threading.cpuCount] : args.compactMap { Int($0) }
print("threads  shape            GFLOP/s")
for t in threadCounts {
    Threading.threadCount = t
    for (m, k, n) in [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048),
                      (64, 784, 256), (64, 256, 128), (64, 128, 10)] {
        let rate = gemmRate(m, k, n)
        print(String(format: "%7d  %-15@ %8.1f", t, "\(m)x\(k)x\(n)" as NSString, rate))
    }
}
