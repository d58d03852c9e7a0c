import _AxonKernels

extension axon_sgemm_variant: @unchecked @retroactive Sendable {}

/// A strided view of a matrix: element (i, j) is at `base[i * rowStride + j * columnStride]`.
/// Transposes are free: swap the strides.
struct MatrixView<T> {
    let base: UnsafePointer<T>
    let rowStride: Int
    let columnStride: Int
    @inline(__always) subscript(i: Int, j: Int) -> T { base[i * rowStride + j * columnStride] }
}

/// General matrix multiply, `C = A·B` or `C += A·B`, for row-major `C` with row stride `ldc`.
///
/// The float32 path is BLIS-style: B is packed in KC x NR slivers (or its full slivers read in place, see
/// ``readsBInPlace(_:)``), A in MR x KC slivers, and a
/// register-blocked micro-kernel chosen at run time for the CPU (`_AxonKernels/gemm.c`) computes each
/// MR x NR tile. Blocks of rows (and, when rows are few, of columns) run on the worker pool. Every C
/// element sums its K products in the same order whatever the thread count, so results are bitwise
/// independent of it.
enum GEMM {
    /// K-block: a packed A sliver and B sliver stay in L1/L2 (measured: 384-512 beat 256).
    static let kc = 512
    /// M-block (a multiple of every MR): the packed A block stays in L2.
    static let mc = 96
    /// N-block: the packed B block stays in L3.
    static let nc = 4096
    /// Below this many multiply-adds, packing costs more than it saves: a plain loop runs instead.
    static let smallWork = 4096
    /// Below this many multiply-adds the work stays on the calling thread.
    static let parallelWork = 1 << 17

    /// The fastest micro-kernel this CPU runs.
    static let bestVariant: axon_sgemm_variant = axon_sgemm_variant_at(0)

    /// float32 GEMM through the packed path (or the plain loop for tiny products). With `bias` (n values, and not
    /// `accumulate`), C = bias + A·B, the bias added to every row (a linear layer): the same bits as copying it into
    /// every row of C first and accumulating, but each thread writes its own part of C as it starts on it. With `relu`,
    /// C = relu(C) after the product, each thread rectifying its own blocks of C as it finishes them.
    static func sgemm(m: Int, n: Int, k: Int, a: MatrixView<Float>, b: MatrixView<Float>,
                      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
                      relu: Bool = false) {
        if m == 0 || n == 0 { return }
        if relu && (k == 0 || m * n * k <= smallWork) {
            sgemm(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate, bias: bias)
            rectify(c, ldc: ldc, rows: 0..<m, columns: 0..<n)
            return
        }
        if k == 0 || m * n * k <= smallWork, let bias, !accumulate {
            for i in 0..<m { (c + i * ldc).update(from: bias, count: n) }
            sgemm(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: true)
            return
        }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        if m * n * k <= smallWork {
            small(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
            return
        }
        if swapsOperands(m: m, n: n, k: k, a: a, b: b, ldc: ldc) {
            // C = A·Wᵀ as Cᵀ = W·Aᵀ: W's rows are read in place and only the smaller Aᵀ is packed transposed. Each
            // element sums the same products in the same order, from the same start (C's values when accumulating,
            // the bias otherwise), so the result has the same bits. Each task transposes its finished block of Cᵀ
            // into C itself, while it is in its core's cache.
            let ct = allocateAligned(n * m)
            defer { ct.deallocate() }
            // Accumulating over one K block, each element is C's value plus the block's sum, one addition in either
            // order: the product is made from zero and added onto C as it is transposed back (an LSTM step's h·W_hhᵀ
            // into its gates), instead of C being transposed into the buffer first.
            let addsOnto = accumulate && k <= kc && bias == nil && !relu
            if accumulate && !addsOnto { axon_pack_transposed(c, ldc, n, m, m, ct) }
            packed(m: n, n: m, k: k, a: MatrixView(base: b.base, rowStride: b.columnStride, columnStride: 1),
                   b: MatrixView(base: a.base, rowStride: 1, columnStride: a.rowStride), c: ct, ldc: m,
                   accumulate: accumulate && !addsOnto, variant: variant(columns: m),
                   start: bias.map { .columnBias($0) }) { rows, columns in
                if relu { rectify(ct, ldc: m, rows: rows, columns: columns) }
                let block = ct + rows.lowerBound * m + columns.lowerBound, into = c + columns.lowerBound * ldc + rows.lowerBound
                if addsOnto {
                    axon_transpose_add(block, m, columns.count, rows.count, into, ldc)
                } else {
                    axon_transpose(block, m, columns.count, rows.count, into, ldc)
                }
            }
            return
        }
        let c = SendablePointer(pointer: c)
        packed(m: m, n: n, k: k, a: a, b: b, c: c.pointer, ldc: ldc, accumulate: accumulate,
               variant: variant(columns: n), start: bias.map { .rowBias($0) },
               finish: relu ? { rows, columns in rectify(c.pointer, ldc: ldc, rows: rows, columns: columns) } : nil)
    }

    /// ReLU over C[rows, columns], in place (v <= 0 ? 0 : v, as the ReLU op).
    static func rectify(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>, columns: Range<Int>) {
        for i in rows {
            let row = c + i * ldc + columns.lowerBound
            axon_relu_f32(row, row, columns.count)
        }
    }

    /// Where a product's C starts from, when not zero or C's own values: a bias in every row, C[i, j] = bias[j]
    /// (x·Wᵀ + b), or down every column, C[i, j] = bias[i] (the same product computed transposed).
    enum Start {
        case rowBias(UnsafePointer<Float>)
        case columnBias(UnsafePointer<Float>)

        /// Writes the start values into C[rows, columns].
        func fill(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>, columns: Range<Int>) {
            for i in rows {
                let row = c + i * ldc + columns.lowerBound
                switch self {
                case .rowBias(let bias): row.update(from: bias + columns.lowerBound, count: columns.count)
                case .columnBias(let bias): row.update(repeating: bias[i], count: columns.count)
                }
            }
        }
    }

    /// Whether C = A·B, with B a transpose (x·Wᵀ: W stored [N, K]) and A row-major, runs as Cᵀ = W·Aᵀ. B's
    /// transposed packing (N·K values) becomes Aᵀ's (M·K) plus two transposes of C (M·N): that pays when W has more
    /// rows than A (an MLP's first layer: 64 x 784 · (256 x 784)ᵀ; packing W was 8% of its training step on a Zen 4).
    static func swapsOperands(m: Int, n: Int, k: Int, a: MatrixView<Float>, b: MatrixView<Float>, ldc: Int) -> Bool {
        guard m >= 16, n > m, ldc == n, a.columnStride == 1, b.rowStride == 1, b.columnStride != 1 else { return false }
        return readsAInPlace(MatrixView(base: b.base, rowStride: b.columnStride, columnStride: 1))
            && (n - m) * k > 2 * m * n
    }

    /// For products with at most this many columns, the narrowest fast micro-kernel wastes less of each
    /// tile than the widest (a 64-wide tile computing 10 columns of logits wastes 84%). The choice depends
    /// on the shape only, so results stay independent of the thread count.
    static let narrowColumns = 32
    /// The fast micro-kernel with the narrowest tile (AVX2's 6x16 on an AVX-512 CPU).
    static let narrowVariant: axon_sgemm_variant = {
        let fast = variants.dropLast()  // the generic one is last
        return fast.min { $0.nr < $1.nr } ?? bestVariant
    }()
    /// The fast micro-kernel with the widest tile of at most `narrowColumns` columns (AVX-512's 6x32; where there is
    /// none wider than the narrowest, that one).
    static let midVariant: axon_sgemm_variant = {
        let fast = variants.dropLast().filter { Int($0.nr) <= narrowColumns }
        return fast.max { $0.nr < $1.nr } ?? narrowVariant
    }()

    /// The micro-kernel for a product of `columns` columns: the narrowest tile that holds them, up to
    /// `narrowColumns`; the widest beyond. Every variant computes each element with the same operations, so the
    /// choice changes the speed only, and it depends on the shape only.
    static func variant(columns: Int) -> axon_sgemm_variant {
        columns <= Int(narrowVariant.nr) ? narrowVariant : columns <= narrowColumns ? midVariant : bestVariant
    }

    /// The packed, blocked, threaded path with a given micro-kernel variant.
    ///
    /// `start` (when not accumulating) is written into each block of C as a task starts on it; `finish`, when given,
    /// is called by the task that computed a block of C (rows, columns), once its last K block is in.
    static func packed(m: Int, n: Int, k: Int, a: MatrixView<Float>, b: MatrixView<Float>,
                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
                       variant: axon_sgemm_variant, start: Start? = nil,
                       finish: ((_ rows: Range<Int>, _ columns: Range<Int>) -> Void)? = nil) {
        let mr = Int(variant.mr), nr = Int(variant.nr)
        let kernel = variant.kernel!, kernelRows = variant.kernel_rows!
        let aInPlace = readsAInPlace(a), lda = a.rowStride
        let threads = m * n * k < parallelWork ? 1 : Threading.threadCount
        // Whether the column slivers share out among the threads with about the same work each: few slivers that do
        // not divide among them (W·xᵀ for a batch of 64 is one; 84 columns are a 64-wide sliver and a 20-wide one, 3:1
        // on 2 threads) do not.
        let slivers = (min(n, nc) + nr - 1) / nr, lastColumns = min(n, nc) - (slivers - 1) * nr
        let evenColumns = slivers >= 2 * threads || (slivers % threads == 0 && 2 * lastColumns >= nr)
        // When M fits in one block it stays whole and the columns are split instead (below), where they split evenly.
        // Row blocks of at most MC rows, as many as a multiple of the thread count, so that every thread
        // gets the same number (256 rows on 2 threads: 4 blocks of 66, not 96 + 96 + 64).
        // A small A (within one MC x KC block's worth) stays one row block even past MC rows: the columns
        // are then split, and packing and multiplying take one round of the pool instead of two per K block.
        var mcEff = m
        if m > mc && m * min(k, kc) > mc * kc {
            let blocks = ((m + mc - 1) / mc + threads - 1) / threads * threads
            mcEff = min(mc, max(mr, ((m + blocks - 1) / blocks + mr - 1) / mr * mr))
        } else if threads > 1 && !evenColumns && m >= 2 * mr * threads {
            // Columns that do not split evenly: a row block per thread.
            mcEff = ((m + threads - 1) / threads + mr - 1) / mr * mr
        }
        let mBlocks = (m + mcEff - 1) / mcEff
        // Row block mb: the MR-row slivers shared out as evenly as whole slivers allow, the first blocks (the calling
        // thread's, which starts first) taking the odd ones. Blocks of mcEff rows left the last one short (1024 rows on 2
        // threads: 11 blocks of 90 and one of 34, 540 rows for one thread and 484 for the other); which rows a block
        // holds never changes what an element sums.
        let rowSlivers = (m + mr - 1) / mr
        func firstSliver(_ mb: Int) -> Int { (mb * rowSlivers + mBlocks - 1) / mBlocks }
        func blockRows(_ mb: Int) -> Range<Int> { (firstSliver(mb) * mr)..<min(m, firstSliver(mb + 1) * mr) }
        let inPlace = readsBInPlace(b, rows: m)
        // A last sliver that a narrower kernel of the same MR holds runs through the narrowest such kernel instead of a
        // full-width tile that is mostly padding (the MLP's weight gradient of 784 columns ends in a sliver of 16, run by
        // AVX2's 6x16; LeNet's 84 outputs in one of 20, run by AVX-512's 6x32): the same A slivers and the same operations
        // for every element, so the same bits. (Two narrower tiles side by side, as 6x32 and 6x16 for 33-48 columns, take
        // as many instructions per k as the full tile, and more calls: 40 columns ran 0.97 times as fast.)
        let edges = [midVariant, narrowVariant].filter { $0.mr == variant.mr && Int($0.nr) < nr }  // widest first
        func edgeTile(_ columns: Int) -> axon_sgemm_variant? { columns < nr ? edges.last { Int($0.nr) >= columns } : nil }
        // Sliver groups for `groups` tasks with about the same work each: a full sliver weighs 4, a last one that runs
        // through a narrower tile 4 per NR of its width (the MLP's weight gradient on 2 threads: 6 and 6¼ slivers' work,
        // not 7 and 6¼). Group g starts at the sliver nearest to g/groups of the work.
        func groupStart(_ g: Int, groups: Int, nSlivers: Int, ncCur: Int) -> Int {
            if g >= groups { return nSlivers }
            let last = edgeTile(ncCur - (nSlivers - 1) * nr).map { (4 * Int($0.nr) + nr - 1) / nr } ?? 4
            let total = 4 * (nSlivers - 1) + last
            return min(nSlivers, (2 * g * total + 4 * groups) / (8 * groups))
        }
        let cOut = SendablePointer(pointer: c)

        // C[rows, the B slivers' columns] (+)= A[rows, pc..<pc+kcCur]·B: A's rows read in place or packed first.
        func multiplyBlock(rows: Range<Int>, slivers: Range<Int>, pc: Int, kcCur: Int, jc: Int, ncCur: Int,
                           accumulate: Bool, sliver: (Int) -> (UnsafePointer<Float>, Int)) {
            let mSlivers = (rows.count + mr - 1) / mr
            let packedA = aInPlace ? nil : allocateAligned(mSlivers * mr * kcCur)
            defer { packedA?.deallocate() }
            if let packedA, a.rowStride == 1 && a.columnStride % 1024 == 0 {
                // A transposed (Gᵀ·X) with its columns 4 KiB apart (an LSTM's weight gradient: the gates' gradient is 1024
                // wide). Packed sliver by sliver, each sliver read 24 bytes from each of kc columns, all in one L1 set; packed
                // a block at a time, each column's part is read once. On a Zen 3, 1 thread, against sliver by sliver (median
                // of 9 rounds alternating in one process): 1024 x 2048 x 256 1.036, 1024 x 2048 x 64 1.126, 2048³ 1.039.
                axon_pack_rows_slivers(a.base + rows.lowerBound + pc * a.columnStride, a.columnStride, kcCur, rows.count,
                                       mr, packedA)
            } else if let packedA {
                for r in 0..<mSlivers {
                    packA(a, row0: rows.lowerBound + r * mr, col0: pc, rows: min(mr, rows.count - r * mr), cols: kcCur,
                          mr: mr, into: packedA + r * mr * kcCur)
                }
            }
            let columns = (jc + slivers.lowerBound * nr)..<(jc + min(ncCur, slivers.upperBound * nr))
            var accumulate = accumulate
            if pc == 0, !accumulate, let start {
                start.fill(cOut.pointer, ldc: ldc, rows: rows, columns: columns)
                accumulate = true
            }
            for s in slivers {
                let nCur = min(nr, ncCur - s * nr)
                let (bSliver, ldb) = sliver(s)
                let (ukernel, ukernelRows) = edgeTile(nCur).map { ($0.kernel!, $0.kernel_rows!) } ?? (kernel, kernelRows)
                for r in 0..<mSlivers {
                    let row = rows.lowerBound + r * mr, mCur = min(mr, rows.upperBound - row)
                    let cTile = cOut.pointer + row * ldc + jc + s * nr
                    if let packedA {
                        ukernel(kcCur, packedA + r * mr * kcCur, bSliver, ldb, cTile, ldc, mCur, nCur, accumulate ? 1 : 0)
                    } else {
                        ukernelRows(kcCur, a.base + row * lda + pc, lda, bSliver, ldb, cTile, ldc, mCur, nCur, accumulate ? 1 : 0)
                    }
                }
            }
            if pc + kcCur == k { finish?(rows, columns) }
        }

        // Tasks that pack the B slivers they use into buffers of their own and multiply them with their row blocks,
        // K block after K block, in one round of the pool. Each element sums the same K blocks in the same order, so
        // the same bits.
        func ownPacking(_ tasks: Int, slivers: (Int) -> Range<Int>, rowBlocks: (Int) -> Range<Int>) {
            runTasks(tasks) { t in
                let own = slivers(t), blocks = rowBlocks(t)
                if own.isEmpty || blocks.isEmpty { return }
                let buffer = allocateAligned(min(kc, k) * own.count * nr)
                defer { buffer.deallocate() }
                var pc = 0
                while pc < k {
                    let kcCur = min(kc, k - pc)
                    func direct(_ s: Int) -> Bool { inPlace && (s + 1) * nr <= n }
                    func packed(_ s: Int) -> UnsafeMutablePointer<Float> { buffer + (s - own.lowerBound) * kcCur * nr }
                    for s in own where !direct(s) {
                        packB(b, row0: pc, col0: s * nr, rows: kcCur, cols: min(nr, n - s * nr), nr: nr,
                              into: packed(s))
                    }
                    for mb in blocks {
                        multiplyBlock(rows: blockRows(mb), slivers: own, pc: pc, kcCur: kcCur, jc: 0, ncCur: n,
                                      accumulate: accumulate || pc > 0) { s in
                            direct(s) ? (b.base + pc * b.rowStride + s * nr, b.rowStride)
                                      : (UnsafePointer(packed(s)), nr)
                        }
                    }
                    pc += kcCur
                }
            }
        }

        // Columns that do not split evenly (x·Wᵀ run as W·xᵀ: xᵀ is one sliver) and several row blocks: every task
        // packs all of B itself and multiplies its share of the row blocks. Packed once and shared, each thread's products
        // read the other cores' part of the packing, and the next call's packing wrote over lines the other core had
        // read: on an Intel Xeon (family 6 model 207) a LeNet layer's 64 x 400 · (120 x 400)ᵀ took longer on 2 threads
        // than on 1 (32 against 38 µs), its packing five times as long.
        if threads > 1 && !inPlace && n <= nc && !evenColumns && mBlocks > 1 {
            let tasks = min(threads, mBlocks)
            ownPacking(tasks, slivers: { _ in 0..<slivers },
                       rowBlocks: { t in (t * mBlocks / tasks)..<((t + 1) * mBlocks / tasks) })
            return
        }
        // B at least as large as A (N >= M), A read in place, and each thread's share of B's columns within 512 KiB a
        // K block (the squares up to 512 on 2 threads), the columns splitting evenly: a share of the columns per task,
        // over all the row blocks, with no round of the pool between packing and multiplying. Each thread reads all of
        // A, the smaller operand, instead of all of B. On an Intel Xeon (family 6 model 207), 2 threads, against the
        // shared packing (median of 11 alternating rounds in one process, M x K x N): 256³ 1.06-1.17, 300³ 1.15, 384³
        // 1.07, 512³ 1.06-1.09, 512 x 256 x 512 1.04, 192 x 520 x 384 1.13, 200 x 300 x 450 1.10, 300 x 700 x 300 1.29,
        // 130 x 600 x 256 1.25; outside the rule it lost: 130 x 600 x 257 0.93-0.98 (a last sliver of one column),
        // 512 x 512 x 1024 0.80 (1 MiB shares), 1000 x 500 x 400 0.95 (A larger), 1024³ and 2048³ in shares of 2-8
        // slivers at a time, A packed by each thread 0.91-1.00, A read in place 0.75-1.02.
        if threads > 1 && aInPlace && n >= m && n <= nc && mBlocks >= threads && slivers >= 2 * threads
            && (slivers % threads == 0 || 2 * lastColumns >= nr)
            && (slivers + threads - 1) / threads * min(k, kc) * nr <= 1 << 17 {
            func share(_ t: Int) -> Int { groupStart(t, groups: threads, nSlivers: slivers, ncCur: n) }
            ownPacking(threads, slivers: { t in share(t)..<share(t + 1) }, rowBlocks: { _ in 0..<mBlocks })
            return
        }

        // B packed once per K block and column block, shared by the tasks.
        let packedB = allocateAligned(kc * min(nc, (n + nr - 1) / nr * nr))
        defer { packedB.deallocate() }
        var jc = 0
        while jc < n {
            let ncCur = min(nc, n - jc)
            let nSlivers = (ncCur + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kcCur = min(kc, k - pc)
                let accumulateHere = accumulate || pc > 0
                let bDst = SendablePointer(pointer: packedB)
                // Whether sliver s is read in place (a full one of an in-place B).
                func direct(_ s: Int) -> Bool { inPlace && (s + 1) * nr <= ncCur }
                // Sliver s of this K block, and its row stride: B's own rows where they are read in place.
                func sliver(_ s: Int) -> (UnsafePointer<Float>, Int) {
                    direct(s) ? (b.base + pc * b.rowStride + jc + s * nr, b.rowStride)
                              : (UnsafePointer(bDst.pointer + s * kcCur * nr), nr)
                }
                // Packs rows `rows` (of this K block) of sliver s.
                func pack(_ s: Int, rows: Range<Int>? = nil) {
                    if direct(s) { return }
                    let r = rows ?? 0..<kcCur
                    packB(b, row0: pc + r.lowerBound, col0: jc + s * nr, rows: r.count, cols: min(nr, ncCur - s * nr),
                          nr: nr, into: bDst.pointer + (s * kcCur + r.lowerBound) * nr)
                }
                // Few rows (M within one block) and several threads: split the columns. Each task packs its
                // own B slivers (which stay in its core's cache) and the small A block, in one round.
                if mBlocks == 1 && threads > 1 && nSlivers > 1 {
                    let groups = min(threads, nSlivers)
                    runTasks(groups) { g in
                        let s0 = groupStart(g, groups: groups, nSlivers: nSlivers, ncCur: ncCur)
                        let s1 = groupStart(g + 1, groups: groups, nSlivers: nSlivers, ncCur: ncCur)
                        if s0 >= s1 { return }
                        for s in s0..<s1 { pack(s) }
                        multiplyBlock(rows: 0..<m, slivers: s0..<s1, pc: pc, kcCur: kcCur, jc: jc, ncCur: ncCur,
                                      accumulate: accumulateHere, sliver: sliver)
                    }
                    pc += kcCur
                    continue
                }
                // Pack B[pc..<pc+kcCur, jc..<jc+ncCur] into NR-wide slivers, zero-padded (read in place: only a
                // last part sliver).
                if inPlace {
                    pack(nSlivers - 1)
                } else {
                    // Units of a sliver's rows: whole slivers, or, when there are fewer slivers than tasks (x·Wᵀ run
                    // as W·xᵀ: xᵀ is one sliver), parts of them in multiples of 8 rows (the transposed packing's tile).
                    let tasks = threads == 1 ? 1 : threads * 2
                    let parts = max(1, tasks / nSlivers), partRows = ((kcCur + parts - 1) / parts + 7) / 8 * 8
                    let units = nSlivers * parts, packTasks = min(units, tasks)
                    let perTask = (units + packTasks - 1) / packTasks
                    runTasks(packTasks) { t in
                        for u in min(units, t * perTask)..<min(units, (t + 1) * perTask) {
                            let r0 = (u % parts) * partRows
                            if r0 < kcCur { pack(u / parts, rows: r0..<min(kcCur, r0 + partRows)) }
                        }
                    }
                }
                // Split columns too when there are fewer row blocks than threads.
                let nGroups = mBlocks >= threads ? 1 : min(nSlivers, (threads + mBlocks - 1) / mBlocks)
                runTasks(mBlocks * nGroups) { task in
                    let mb = task / nGroups, g = task % nGroups
                    let rows = blockRows(mb)
                    let s0 = groupStart(g, groups: nGroups, nSlivers: nSlivers, ncCur: ncCur)
                    let s1 = groupStart(g + 1, groups: nGroups, nSlivers: nSlivers, ncCur: ncCur)
                    if s0 >= s1 || rows.isEmpty { return }
                    multiplyBlock(rows: rows, slivers: s0..<s1, pc: pc, kcCur: kcCur, jc: jc, ncCur: ncCur,
                                  accumulate: accumulateHere, sliver: sliver)
                }
                pc += kcCur
            }
            jc += ncCur
        }
    }

    /// Whether the micro-kernel reads B's full slivers in place, without packing them, in a product of `rows` rows. B is
    /// row-major, and its rows spread over L1's sets: a row stride that is a multiple of 4 KiB puts every row in one
    /// set, where they evict each other, and a multiple of 128 bytes in a few. Packing a sliver costs a pass over it
    /// and saves on each of its reads, one per MR rows of A; on Intel CPUs, a product of at most ``fewRows`` rows reads
    /// a stride that is a multiple of 128 bytes (but not of 4 KiB) in place too.
    ///
    /// Measured on a Zen 3 (kernel loop on 1 thread; pack + kernel against in place): B 288 x 784, as a convolution's
    /// unfolded columns, 85.8 -> 94.1 GFLOP/s; 64 x 784 84.9 -> 93.3; 512 x 2048, 80.8 packed against 54.1 in place.
    /// On an Intel Xeon (family 6, model 207; `matmul` on 1 thread, in place against packed, the median ratio of rounds
    /// alternating in one process), M x K x N with B's stride N: 64 x 784 x 256 1.22, 64 x 128 x 256 1.20,
    /// 128 x 512 x 256 1.10, 256 x 512 x 256 1.05, 512 x 512 x 256 0.99; 64 x 256 x 128 1.18, 128 x 256 x 128 1.08;
    /// 64 x 512 x 512 1.17, 128 x 512 x 512 1.03, 256 x 512 x 512 0.89, 512 x 512 x 512 0.85. The narrower tiles too:
    /// 64 x 256 x 32 1.21 and 128 x 512 x 32 1.10 (AVX-512's 6x32); 64 x 784 x 16, 128 x 256 x 16 and 64 x 512 x 16 with
    /// B's stride 32, 64 and 256, 1.09, 1.04 and 1.06 (AVX2's 6x16).
    static func readsBInPlace(_ b: MatrixView<Float>, rows: Int) -> Bool {
        guard b.columnStride == 1, b.rowStride % 1024 != 0 else { return false }
        return b.rowStride % 32 != 0 || (rows <= fewRows && inPlaceForFewRows)
    }
    /// The most rows of a product that reads a B whose stride is a multiple of 128 bytes in place (on Intel CPUs).
    static let fewRows = 128
    /// Whether this CPU reads such a B in place in products of few rows: measured on Intel only (an Intel Xeon).
    static let inPlaceForFewRows = axon_cpu_intel() != 0

    /// Whether the micro-kernel reads A's rows in place (each sliver's MR rows, k contiguous) instead of packing them:
    /// A is row-major, and its rows are not 4 KiB apart (they would all fall in one L1 set).
    static func readsAInPlace(_ a: MatrixView<Float>) -> Bool {
        a.columnStride == 1 && a.rowStride % 1024 != 0
    }

    /// Packed panels start on a cache line (64 bytes), so no vector load of a sliver splits two lines.
    static func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    /// Packs `rows x cols` of A starting at (row0, col0) as `cols` groups of `mr` values (zero-padded).
    @inline(__always)
    static func packA(_ a: MatrixView<Float>, row0: Int, col0: Int, rows: Int, cols: Int, mr: Int,
                      into dst: UnsafeMutablePointer<Float>) {
        if a.rowStride == 1 && a.columnStride != 1 {
            // A is a transpose (Gᵀ·X): for each k its mr values are contiguous, so the sliver is `cols` rows of
            // `rows` values, packed as B's rows are (in C; a Swift loop here became a memcpy call per 24 bytes).
            axon_pack_rows(a.base + row0 + col0 * a.columnStride, a.columnStride, cols, rows, mr, dst)
            return
        }
        if a.columnStride == 1 {
            // Row-major A: each k's mr values come from mr rows; moved as tiles through registers (in C).
            axon_pack_transposed(a.base + row0 * a.rowStride + col0, a.rowStride, cols, rows, mr, dst)
            return
        }
        if rows < mr { dst.update(repeating: 0, count: mr * cols) }
        for i in 0..<rows {
            let src = a.base + (row0 + i) * a.rowStride + col0 * a.columnStride
            let cs = a.columnStride
            var d = dst + i
            for p in 0..<cols { d.pointee = src[p * cs]; d += mr }
        }
    }

    /// Packs `rows x cols` of B starting at (row0, col0) as `rows` groups of `nr` values (zero-padded).
    @inline(__always)
    static func packB(_ b: MatrixView<Float>, row0: Int, col0: Int, rows: Int, cols: Int, nr: Int,
                      into dst: UnsafeMutablePointer<Float>) {
        let cs = b.columnStride
        if cs == 1 {
            axon_pack_rows(b.base + row0 * b.rowStride + col0, b.rowStride, rows, cols, nr, dst)
        } else if b.rowStride == 1 {
            // B is a transpose (x·Wᵀ): column j of B is a contiguous row of W; tiles move through registers.
            axon_pack_transposed(b.base + row0 + col0 * cs, cs, rows, cols, nr, dst)
        } else {
            if cols < nr { dst.update(repeating: 0, count: nr * rows) }
            for j in 0..<cols {
                let src = b.base + row0 * b.rowStride + (col0 + j) * cs
                let rs = b.rowStride
                var d = dst + j
                for p in 0..<rows { d.pointee = src[p * rs]; d += nr }
            }
        }
    }

    /// Small products (a Playground-size layer), without the packed path: the reference's arithmetic (each C
    /// element sums its K products in order). A B read across its rows (x·Wᵀ) is first copied row-major to
    /// the stack (at most `smallWork` elements), so that the loop updates rows of C as vectors: as dot
    /// products, each element's K dependent additions would run one after another.
    static func small<T: FloatingPoint>(m: Int, n: Int, k: Int, a: MatrixView<T>, b: MatrixView<T>,
                                        c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        if b.columnStride == 1 {
            reference(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
            return
        }
        withUnsafeTemporaryAllocation(of: T.self, capacity: k * n) { packed in
            let dst = packed.baseAddress!
            for p in 0..<k {
                for j in 0..<n { dst[p * n + j] = b[p, j] }
            }
            reference(m: m, n: n, k: k, a: a, b: MatrixView(base: UnsafePointer(dst), rowStride: n, columnStride: 1),
                      c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// The plain reference: a triple loop (i, p, j), any element type. The fast path is tested against it.
    static func reference<T: FloatingPoint>(m: Int, n: Int, k: Int, a: MatrixView<T>, b: MatrixView<T>,
                                            c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool) {
        for i in 0..<m {
            let row = c + i * ldc
            if !accumulate { row.update(repeating: 0, count: n) }
            for p in 0..<k {
                let aip = a[i, p]
                let bRow = b.base + p * b.rowStride
                let cs = b.columnStride
                if cs == 1 {  // the same loop, with rows of C updated as vectors
                    for j in 0..<n { row[j] += aip * bRow[j] }
                } else {
                    for j in 0..<n { row[j] += aip * bRow[j * cs] }
                }
            }
        }
    }

    /// Variants runnable on this CPU, fastest first (for tests and benchmarks).
    static var variants: [axon_sgemm_variant] {
        (0..<Int(axon_sgemm_variant_count())).map { axon_sgemm_variant_at(Int32($0)) }
    }
}
