import Axon
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Axon's benchmark: `swift run -c release axon-bench [--threads N] [--json PATH] [--quick]`.
// Rows: the machine's float32 FMA peak (`fma peak`, a register-only loop), GEMM GFLOP/s, conv2d
// forward+backward for the LeNet layers, Fashion-MNIST training and inference samples/s for the MLP and LeNet
// (batch 64, SGD with momentum) and for a wider CNN with batch norm (`conv-bn`: batch 64, Adam),
// Playground-size steps/s, character language models' training tokens/s (an LSTM and a Transformer, batch
// 32, context 64, Adam), and each training run's peak resident memory (measured in a child process of its
// own). GEMM and training rows carry their FLOPs per unit, so each is also given as a percentage of the peak.
// bench/compare.py runs the same workloads in PyTorch in the same command and prints Axon/PyTorch per row.

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Median seconds per call of `body` over `rounds` rounds of `reps` calls.
func timeIt(reps: Int, rounds: Int = 5, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<rounds {
        let t = now()
        for _ in 0..<reps { body() }
        times.append((now() - t) / Double(reps))
    }
    return times.sorted()[rounds / 2]
}

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

struct Row: Codable {
    var name: String, unit: String, value: Double, threads: Int
    /// Floating-point operations per unit (per sample, per token; 1e9 for GFLOP/s), when counted.
    var flopsPerUnit: Double?
    enum CodingKeys: String, CodingKey { case name, unit, value, threads, flopsPerUnit = "flops_per_unit" }
}

/// The speed-up of `step` from 1 thread to `threads`, measured in one process (`--scaling`): `rounds` rounds, each a
/// block of `steps` steps on 1 thread and one on `threads` (1 first in even rounds, `threads` first in odd ones), the
/// round's ratio the 1-thread block's time over the other's; each block starts with one untimed step. Two blocks back
/// to back (tens of ms each) see the same state of a shared machine, where whole runs minutes apart did not (on the
/// project's 2-vCPU Zen 3 the state changed every second or so). Before each round the state is probed and the round
/// filed under it: `shared_core` when the FMA loop runs less than 1.4 times as fast on 2 threads as on 1 (the two
/// virtual CPUs on one physical core), else `far` when the cross-core round trip (before or after the round) is over
/// 250 ns, else `near`. Returns the median, lowest and highest ratio and the number of rounds, overall and per state.
func pairedScaling(threads: Int, steps: Int, rounds: Int, _ step: () -> Void) -> [String: Double] {
    var all: [Double] = [], byState: [String: [Double]] = [:]
    for round in 0..<rounds {
        let twoCores = Machine.measureFMAPeak(threads: 2, seconds: 0.02) / Machine.measureFMAPeak(threads: 1, seconds: 0.02)
        let before = Machine.measureCoreRoundTrip(trips: 2000) ?? 0
        var seconds: [Int: Double] = [:]
        for count in round % 2 == 0 ? [1, threads] : [threads, 1] {
            Threading.threadCount = count
            step()
            let t = now()
            for _ in 0..<steps { step() }
            seconds[count] = now() - t
        }
        let after = Machine.measureCoreRoundTrip(trips: 2000) ?? 0
        let ratio = seconds[1]! / seconds[threads]!
        all.append(ratio)
        byState[twoCores < 1.4 ? "shared_core" : max(before, after) > 250 ? "far" : "near", default: []].append(ratio)
    }
    Threading.threadCount = threads
    var out: [String: Double] = [:]
    for (name, ratios) in [("", all)] + byState.map({ ("_" + $0.key, $0.value) }) {
        let sorted = ratios.sorted()
        out["scaling\(name)_median"] = sorted[sorted.count / 2]
        out["scaling\(name)_lowest"] = sorted.first!
        out["scaling\(name)_highest"] = sorted.last!
        out["scaling\(name)_rounds"] = Double(sorted.count)
    }
    return out
}

/// FLOPs of one training step per sample of `net` (input `inputShape` without the batch axis): each Linear
/// and Conv2d does 2·MACs forward, 2·MACs for its weight gradient and 2·MACs for its input gradient, except
/// the first, whose input needs none. MACs are the weight's elements times the output positions (1 for
/// Linear). Elementwise work (activations, normalisation, pooling, the optimizer) is not counted, as usual.
func trainingFLOPsPerSample(_ net: Sequential, inputShape: [Int]) -> Double {
    net.eval()
    defer { net.train() }
    var x = Tensor.zeros([1] + inputShape), flops = 0.0, first = true
    for layer in net.layers {
        let y = withNoGrad { layer(x) }
        var macs: Double? = nil
        if let linear = layer as? Linear { macs = Double(linear.weight.count) }
        if let conv = layer as? Conv2d { macs = Double(conv.weight.count * y.shape[2] * y.shape[3]) }
        if let macs {
            flops += 2 * macs * (first ? 2 : 3)
            first = false
        }
        x = y
    }
    return flops
}

/// FLOPs of one training step per token of the character language models, from their configuration (the
/// embedding's input gradient is the embedding's update, so every layer counts forward, weight and input
/// gradients: 6·MACs).
/// - LSTM: 4 gates of `hidden` outputs over input + hidden per layer, then the head.
/// - Transformer: Q, K, V and output projections (4·d²), the feed-forward pair (2·d·ff), attention scores
///   and their weighted sum over the whole context (2·ctx·d, causal masking not subtracted), then the head.
func languageModelFLOPsPerToken(lstm: Bool, vocab: Int, context: Int) -> Double {
    let macs = lstm
        ? 4 * 256 * (64 + 256) + 4 * 256 * (256 + 256) + 256 * vocab
        : 4 * (4 * 128 * 128 + 2 * 128 * 512 + 2 * context * 128) + 128 * vocab
    return 6 * Double(macs)
}

/// The `conv-bn` network: conv 1→32 and 32→64 (kernel 3, padding 1), each followed by BatchNorm2d, ReLU and
/// 2x2 max pooling, then linear 3136-128-10 with dropout 0.3 (the wider CNN of the kind users write).
func convBNNet() -> Sequential {
    Sequential(Conv2d(1, 32, kernelSize: 3, padding: 1), BatchNorm2d(32), ReLU(), MaxPool2d(2),
               Conv2d(32, 64, kernelSize: 3, padding: 1), BatchNorm2d(64), ReLU(), MaxPool2d(2),
               Flatten(), Linear(3136, 128), ReLU(), Dropout(0.3), Linear(128, 10))
}

Allocator.tuneForTraining()  // as the axon command and Trainer (AXON_MALLOC_TUNING=0 measures without)
let args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? { args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
let quick = args.contains("--quick")
/// `--only gemm|conv|train|WORKLOAD`: one group of rows, or one training workload (for profiling).
let only = option("--only")

// `--micro`: the fixed cost of single operations on Playground-size tensors (ns per call, median of 7
// rounds of 20 000), for work on per-op overhead; `MICRO=name` runs one row (for profiling).
if args.contains("--micro") {
    let a = Tensor.randn([10, 8]), b = Tensor.randn([10, 8]), w = Tensor.randn([8, 8]), bias = Tensor.randn([8])
    let ag = a.requiringGrad(), wg = w.requiringGrad(), bg = bias.requiringGrad()
    let y = Tensor.randn([10, 1]), p = Tensor.randn([10, 1]).requiringGrad()
    let net = Sequential(Linear(2, 8), Tanh(), Linear(8, 8), Tanh(), Linear(8, 1))
    let opt = SGD(net.parameters(), lr: 0.03)
    let x = Tensor.randn([10, 2])
    // A classifier's loss at the MLP's size: logits of a batch of 64 over 10 classes.
    let logits = Tensor.randn([64, 10]).requiringGrad(), labels = Tensor(shape: [64], scalars: (0..<64).map { $0 % 10 })
    let rows: [(String, () -> Void)] = [
        ("zeros", { _ = Tensor.zeros([10, 8]) }),
        ("add", { _ = a + b }),
        ("sub", { _ = p - y }),
        ("mul by scalar", { _ = a * 0.5 }),
        ("tanh", { _ = tanh(a) }),
        ("sum", { _ = a.sum() }),
        ("linear", { _ = matmul(a, transposed: w, bias: bias) }),
        ("add, recorded", { _ = ag + b }),
        ("sum fwd+bwd", { p.sum().backward() }),
        ("tanh fwd+bwd", { tanh(ag).sum().backward() }),
        ("linear fwd+bwd", { matmul(ag, transposed: wg, bias: bg).sum().backward() }),
        ("mse fwd+bwd", { mseLoss(p, y).backward() }),
        ("cross entropy 64x10", { _ = crossEntropy(logits, labels) }),
        ("cross entropy 64x10 fwd+bwd", { crossEntropy(logits, labels).backward() }),
        ("customOp identity fwd+bwd", { customOp("id", inputs: [p], forward: { $0[0] * 1.0 }, backward: { g, _, _ in [g] }).sum().backward() }),
        ("net forward", { _ = net(x) }),
        ("net fwd+loss+bwd", { opt.zeroGrad(); mseLoss(net(x), y).backward() }),
        ("optimizer step", { opt.step() }),
    ]
    for (name, body) in rows {
        if let one = ProcessInfo.processInfo.environment["MICRO"], one != name { continue }
        let perCall = timeIt(reps: 20000, rounds: 7, body)
        print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%9.1f ns", perCall * 1e9))
    }
    exit(0)
}

// Child mode: one training workload, printing its figures as JSON on stdout.
if let workload = option("--workload") {
    if let t = option("--threads").flatMap(Int.init) { Threading.threadCount = t }
    manualSeed(0)
    var out: [String: Double] = [:]
    if workload == "lstm-lm" || workload == "transformer-lm" {
        // Character language models on random tokens (vocabulary 96), batch 32, context 64, Adam: tokens per second.
        let v = 96, b = 32, t = 64
        let g = Generator(seed: 0)
        let model: any LanguageModel = workload == "lstm-lm"
            ? CharLSTM(vocabSize: v, embeddingDim: 64, hiddenSize: 256, numLayers: 2)
            : CharTransformer(vocabSize: v, contextLength: t, dModel: 128, nhead: 4, numLayers: 4, dimFeedforward: 512)
        let opt = Adam(model.parameters(), lr: 1e-3)
        let x = Tensor(shape: [b, t], scalars: (0..<b * t).map { _ in g.nextInt(below: v) })
        let y = Tensor(shape: [b, t], scalars: (0..<b * t).map { _ in g.nextInt(below: v) })
        var last = 0.0  // the last step's loss: a change that keeps the bits keeps it
        func step() {
            opt.zeroGrad()
            let loss = crossEntropy(model(x).reshaped([b * t, v]), y.reshaped([b * t]))
            loss.backward()
            opt.step()
            last = loss.item
        }
        out["tokens_per_second"] = Double(b * t) / timeIt(reps: quick ? 1 : 4, rounds: 3) { step() }
        out["last_loss"] = last
        out["flops_per_token"] = languageModelFLOPsPerToken(lstm: workload == "lstm-lm", vocab: v, context: t)
    } else if workload == "playground" {
        let g = Generator(seed: 0)
        let x = Tensor.uniform([10, 2], low: -6, high: 6, generator: g), y = Tensor.uniform([10, 1], low: -1, high: 1, generator: g)
        let net = Sequential(Linear(2, 8), Tanh(), Linear(8, 8), Tanh(), Linear(8, 1))
        let opt = SGD(net.parameters(), lr: 0.03)
        func step() { opt.zeroGrad(); mseLoss(net(x), y).backward(); opt.step() }
        if args.contains("--scaling"), let many = option("--threads").flatMap(Int.init), many > 1 {
            // Blocks of 1000 steps (tens of ms, as the MLP's blocks of 40): "never slower with more threads" measured
            // under one state of the machine, where runs seconds apart saw different ones.
            out.merge(pairedScaling(threads: many, steps: quick ? 500 : 1000, rounds: quick ? 7 : 31, step)) { $1 }
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            exit(0)
        }
        // Many short rounds, median: a burst of noise on the shared machine spoils a round, not the figure.
        let perStep = timeIt(reps: quick ? 100 : 500, rounds: 15) { step() }
        out["steps_per_second"] = 1 / perStep
    } else {
        let train = try MNIST.load(split: .train), test = try MNIST.load(split: .test)
        let net: Sequential = workload == "lenet"
            ? Sequential(Conv2d(1, 6, kernelSize: 3), ReLU(), MaxPool2d(2), Conv2d(6, 16, kernelSize: 3), ReLU(), MaxPool2d(2),
                         Flatten(), Linear(400, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10))
            : workload == "conv-bn" ? convBNNet()
            : Sequential(Flatten(), Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
        out["flops_per_sample"] = trainingFLOPsPerSample(net, inputShape: [1, 28, 28])
        // conv-bn trains with Adam on the first 6400 images (it is the slow one); the others with SGD on all.
        let opt: Optimizer = workload == "conv-bn" ? Adam(net.parameters(), lr: 1e-3) : SGD(net.parameters(), lr: 0.05, momentum: 0.9)
        let limit = workload == "conv-bn" ? (quick ? 1280 : 6400) : quick ? 12800 : train.count
        // --distributed (under mpirun, built with --traits MPI): data-parallel over the ranks, batch 64 per rank, each
        // rank its share of the epoch; the figure is every rank's samples over the slowest rank's time, from rank 0.
        let distributed = args.contains("--distributed")
        if distributed { try Distributed.start() }
        let ddp = distributed ? try DistributedDataParallel(net) : nil
        let model: any Layer = ddp ?? net
        let sampler = distributed ? DistributedSampler(rank: Distributed.rank, worldSize: Distributed.worldSize) : nil
        let loader = DataLoader(limit < train.count ? train.subset(Array(0..<limit)) : train, batchSize: 64, shuffle: true, seed: 0,
                                sampler: sampler)
        if args.contains("--scaling"), !distributed, let many = option("--threads").flatMap(Int.init), many > 1 {
            // Batches from the loader, epoch after epoch.
            var batches = loader.makeIterator()
            func step() {
                guard let (x, y) = batches.next() else { batches = loader.makeIterator(); return step() }
                opt.zeroGrad()
                crossEntropy(model(x), y).backward()
                opt.step()
            }
            let steps = workload == "conv-bn" ? 4 : 40
            out.merge(pairedScaling(threads: many, steps: quick ? steps / 2 : steps, rounds: quick ? 7 : 31, step)) { $1 }
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            exit(0)
        }
        // The loader alone (gathering and copying batches), to show it is not the bottleneck.
        let tl = now()
        for _ in loader {}
        out["loader_samples_per_second"] = Double(limit) / (now() - tl) * Double(Distributed.worldSize)
        try Distributed.barrier()
        let t = now()
        var last = 0.0, synchronizing = 0.0
        for (x, y) in loader {
            opt.zeroGrad()
            let loss = crossEntropy(model(x), y)
            loss.backward()
            if let ddp {
                let ts = now()
                try ddp.synchronizeGradients()
                synchronizing += now() - ts
            }
            opt.step()
            last = loss.item
        }
        let rankSeconds = now() - t
        try Distributed.barrier()
        out["train_samples_per_second"] = Double(sampler.map { $0.count(of: limit) * $0.worldSize } ?? limit) / (now() - t)
        out["last_loss"] = last
        if distributed {
            out["ranks"] = Double(Distributed.worldSize)
            // Rank 0's share of its epoch spent in synchronizeGradients (the last bucket's all-reduce and the waits),
            // and the slowest rank's epoch over rank 0's (time rank 0 waited at the closing barrier).
            out["synchronize_fraction"] = synchronizing / rankSeconds
            out["barrier_wait_fraction"] = (now() - t) / rankSeconds - 1
            let main = Distributed.isMain
            try Distributed.finish()
            if !main { exit(0) }
        }
        if !args.contains("--train-only") && !distributed {  // --train-only: for profiling the training loop alone
            net.eval()
            let inputs = test.inputs  // decoded to float32 once, outside the timing (as PyTorch's xte)
            if workload == "conv-bn" {
                // 2000 test images in batches of 500 (the whole test set at once would hold a GiB of activations).
                let ti = now()
                for start in stride(from: 0, to: 2000, by: 500) { _ = withNoGrad { net(inputs[start..<(start + 500)]) } }
                out["inference_samples_per_second"] = 2000 / (now() - ti)
            } else {
                let ti = now()
                for _ in 0..<3 { _ = withNoGrad { net(inputs) } }
                out["inference_samples_per_second"] = 3 * Double(test.count) / (now() - ti)
            }
        }
    }
    out["peak_rss_mib"] = peakRSSMiB()
    let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    exit(0)
}

func padded(_ s: String, _ width: Int) -> String { s.padding(toLength: max(width, s.count), withPad: " ", startingAt: 0) }
var rows: [Row] = []
var peak: [Int: Double] = [:]  // GFLOP/s per thread count
/// Records and prints a row; with `flops` (per unit), also its percentage of the measured peak.
@MainActor func report(_ name: String, _ unit: String, _ value: Double, _ threads: Int, flops: Double? = nil) {
    rows.append(Row(name: name, unit: unit, value: value, threads: threads, flopsPerUnit: flops))
    let share = flops.flatMap { f in peak[threads].map { String(format: "%5.1f%%", 100 * value * f / 1e9 / $0) } } ?? ""
    print(padded(name, 48) + String(format: " %3d  %12.1f  ", threads, value) + padded(unit, 10) + " " + share)
}

let trainingWorkloads = ["mlp", "lenet", "conv-bn", "playground", "lstm-lm", "transformer-lm"]
/// Whether this run has training rows (all of them, `--only train`, or `--only` one workload): the cross-core round trip
/// is measured around them, so that a 2-thread figure can be read against the machine's state.
let trainingRows = only == nil || only == "train" || trainingWorkloads.contains(only!)
let threadCounts = option("--threads").map { [Int($0)!] } ?? [1, Threading.cpuCount]
print("CPU: \(Machine.cpuModel), family \(Machine.cpuFamily.map(String.init) ?? "unknown"), model \(Machine.cpuModelNumber.map(String.init) ?? "unknown"), "
      + "\(Machine.vectorInstructions) (\(Machine.vectorLanes) float32 lanes per vector), \(Threading.cpuCount) CPUs")
print(padded("workload", 48) + " thr         value  " + padded("unit", 10) + " of peak")
for threads in threadCounts {
    Threading.threadCount = threads
    // The limit: float32 FMAs on registers only, on `threads` threads.
    peak[threads] = Machine.measureFMAPeak(threads: threads)
    report("fma peak", "GFLOP/s", peak[threads]!, threads, flops: 1e9)
    // With several threads, how fast the cores reach each other's caches now, before and after the training rows
    // (this machine kind's 2-thread figures halve in its periods of slow cross-core traffic).
    func reportRoundTrip(_ when: String) {
        if threads > 1, let ns = Machine.measureCoreRoundTrip() { report("cross-core round trip (\(when) training)", "ns", ns, threads) }
    }
    if trainingRows { reportRoundTrip("before") }
    // Training runs first, each in its own process (for its own peak RSS: Linux carries a parent's peak
    // resident memory into a child it starts, so they run before the products below allocate anything).
    for workload in trainingWorkloads where only == nil || only == "train" || only == workload {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["--workload", workload, "--threads", "\(threads)"] + (quick ? ["--quick"] : [])
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let figures = try JSONSerialization.jsonObject(with: data) as? [String: Double] else {
            print("\(workload): failed (status \(p.terminationStatus))")
            continue
        }
        if workload == "playground" {
            report("playground 2-8-8-1 tanh, batch 10", "steps/s", figures["steps_per_second"]!, threads)
        } else if workload == "lstm-lm" {
            report("lstm lm train (batch 32, ctx 64, 2x256)", "tokens/s", figures["tokens_per_second"]!, threads, flops: figures["flops_per_token"])
        } else if workload == "transformer-lm" {
            report("transformer lm train (batch 32, ctx 64, d128 x4)", "tokens/s", figures["tokens_per_second"]!, threads,
                   flops: figures["flops_per_token"])
        } else {
            let label = workload == "conv-bn" ? "conv-bn train (batch 64, Adam)" : "\(workload) train (batch 64, SGD momentum)"
            report(label, "samples/s", figures["train_samples_per_second"]!, threads, flops: figures["flops_per_sample"])
            report("\(workload) inference", "samples/s", figures["inference_samples_per_second"]!, threads)
            report("\(workload) data loader alone", "samples/s", figures["loader_samples_per_second"]!, threads)
        }
        report("\(workload) peak RSS", "MiB", figures["peak_rss_mib"]!, threads)
    }
    if trainingRows { reportRoundTrip("after") }
    // GEMM: square sizes and the MLP's training shapes (forward, and the two products backward uses).
    let gemmShapes: [(String, Int, Int, Int)] = [
        ("gemm 256", 256, 256, 256), ("gemm 512", 512, 512, 512), ("gemm 1024", 1024, 1024, 1024), ("gemm 2048", 2048, 2048, 2048),
        ("gemm 64x784x256", 64, 784, 256), ("gemm 256x64x784 (dW)", 256, 64, 784), ("gemm 64x256x784 (dX)", 64, 256, 784),
        ("gemm 64x256x128", 64, 256, 128), ("gemm 128x64x256 (dW)", 128, 64, 256), ("gemm 64x128x256 (dX)", 64, 128, 256),
        ("gemm 64x128x10", 64, 128, 10), ("gemm 10x64x128 (dW)", 10, 64, 128), ("gemm 64x10x128 (dX)", 64, 10, 128),
    ]
    for (name, m, k, n) in gemmShapes where !(quick && m * n * k > 1 << 28) && (only == nil || only == "gemm") {
        let a = Tensor.randn([m, k]), b = Tensor.randn([k, n])
        let flops = 2.0 * Double(m * n * k)
        // Rounds of about 1 GFLOP (at least a few milliseconds), median of 9: short rounds on a shared
        // machine measure its noise more than the product.
        let s = timeIt(reps: max(1, min(2000, Int(1e9 / flops))), rounds: 9) { _ = matmul(a, b) }
        report(name, "GFLOP/s", flops / s / 1e9, threads, flops: 1e9)
    }
    // conv2d forward + backward for the LeNet layers and the conv-bn network's (padding 1), batch 64.
    for (name, shape, wshape, padding) in [("conv1 fwd+bwd (64x1x28x28, 6x3x3)", [64, 1, 28, 28], [6, 1, 3, 3], 0),
                                           ("conv2 fwd+bwd (64x6x13x13, 16x3x3)", [64, 6, 13, 13], [16, 6, 3, 3], 0),
                                           ("conv-bn conv1 fwd+bwd (64x1x28x28, 32x3x3, pad 1)", [64, 1, 28, 28], [32, 1, 3, 3], 1),
                                           ("conv-bn conv2 fwd+bwd (64x32x14x14, 64x3x3, pad 1)", [64, 32, 14, 14], [64, 32, 3, 3], 1)]
        where only == nil || only == "conv" {
        let x = Tensor.randn(shape).requiringGrad(), w = Tensor.randn(wshape).requiringGrad(), b = Tensor.randn([wshape[0]]).requiringGrad()
        // 2·MACs forward, and as much again for each of the weight and input gradients.
        let flops = 6.0 * Double(w.count * shape[0] * (shape[2] + 2 * padding - 2) * (shape[3] + 2 * padding - 2))
        let s = timeIt(reps: 20) {
            let y = conv2d(x, weight: w, bias: b, padding: (padding, padding))
            y.backward(Tensor.ones(y.shape))
            x.zeroGrad(); w.zeroGrad(); b.zeroGrad()
        }
        report(name, "calls/s", 1 / s, threads, flops: flops)
    }
}
if let path = option("--json") {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(rows).write(to: URL(fileURLWithPath: path))
}
