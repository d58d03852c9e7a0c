// Threads, determinism and the kernels' backend.
import Axon
import Foundation

// snippet.threads
// Axon uses every core by default (AXON_NUM_THREADS, or Threading.threadCount, changes that).
print("cores \(Threading.cpuCount), threads \(Threading.threadCount), backend \(String(describing: type(of: Backends.current)))")

// snippet.determinism
// The same seed gives bitwise the same weights whatever the thread count: every reduction has a fixed order.
func train(threads: Int) -> [Float] {
    Threading.threadCount = threads
    manualSeed(7)
    let data = Playground.make(.circle, samples: 256, generator: Generator(seed: 7))
    let net = Sequential(Linear(2, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 2))
    let trainer = Trainer(model: net, optimizer: SGD(net.parameters(), lr: 0.1, momentum: 0.9), loss: { crossEntropy($0, $1) })
    trainer.progress = .silent
    _ = try? trainer.fit(DataLoader(data.train, batchSize: 32, shuffle: true, seed: 7), epochs: 3)
    return net.parameters().flatMap(\.scalars)
}
let saved = Threading.threadCount
print("1 and 2 threads give the same weights:", train(threads: 1) == train(threads: 2))
Threading.threadCount = saved

// snippet.gemm
// A large matrix product, timed: GEMM runs on packed panels with AVX-512 or AVX2 micro-kernels chosen at run time.
let a = Tensor.randn([512, 512]), b = Tensor.randn([512, 512])
let start = DispatchTime.now().uptimeNanoseconds
let c = matmul(a, b)
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
print("512x512 GEMM: \(c.shape), \(String(format: "%.1f", 2 * 512 * 512 * 512 / seconds / 1e9)) GFLOP/s")
