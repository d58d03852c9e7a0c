import Foundation

/// A seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64), with reference
/// semantics as `torch.Generator`: pass one explicitly to make data and initialisation reproducible.
public final class Generator: RandomNumberGenerator, @unchecked Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var spareNormal: Double?
    private let lock = NSLock()

    /// A generator seeded with `seed`.
    public init(seed: UInt64) { reseed(seed) }

    /// Restarts the sequence from `seed`.
    public func reseed(_ seed: UInt64) {
        lock.lock(); defer { lock.unlock() }
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
        spareNormal = nil
    }

    /// The full internal state (for checkpoints); restore it with ``setState(_:)``.
    public var state: [UInt64] {
        lock.lock(); defer { lock.unlock() }
        return [s.0, s.1, s.2, s.3, spareNormal.map { $0.bitPattern } ?? 0, spareNormal == nil ? 0 : 1]
    }

    /// Words in ``state``.
    public static let stateCount = 6

    /// What is wrong with `state` as a saved ``state``, or nil if it is one: ``stateCount`` words, a
    /// xoshiro state that is not all zero (a fixed point: it would draw zeros forever), a flag of 0 or 1 and,
    /// with the flag, a finite spare normal value. A reader of saved states checks this before ``setState(_:)``.
    public static func problem(with state: [UInt64]) -> String? {
        guard state.count == stateCount else { return "has \(state.count) words, expected \(stateCount)" }
        guard state[0] | state[1] | state[2] | state[3] != 0 else { return "is all zero" }
        guard state[5] <= 1, state[5] == 0 || Double(bitPattern: state[4]).isFinite else { return "has a malformed spare value" }
        return nil
    }

    /// Restores a state read from ``state`` (a reader of saved states checks it with ``problem(with:)`` first).
    public func setState(_ state: [UInt64]) {
        if let problem = Self.problem(with: state) { fatalError("Axon.Generator.setState: the state \(problem)") }
        lock.lock(); defer { lock.unlock() }
        s = (state[0], state[1], state[2], state[3])
        spareNormal = state[5] == 1 ? Double(bitPattern: state[4]) : nil
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    private func nextUnlocked() -> UInt64 {
        let result = Generator.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = Generator.rotl(s.3, 45)
        return result
    }

    /// The next 64 random bits.
    public func next() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        return nextUnlocked()
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal double (Box-Muller; the second value of each pair is kept for the next call).
    public func nextNormal() -> Double {
        lock.lock(); defer { lock.unlock() }
        if let z = spareNormal { spareNormal = nil; return z }
        var u1 = 0.0
        repeat { u1 = Double(nextUnlocked() >> 11) * 0x1.0p-53 } while u1 <= 0
        let u2 = Double(nextUnlocked() >> 11) * 0x1.0p-53
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spareNormal = r * Foundation.sin(2 * Double.pi * u2)
        return r * Foundation.cos(2 * Double.pi * u2)
    }

    /// A uniform integer in `0..<upperBound`.
    public func nextInt(below upperBound: Int) -> Int {
        guard upperBound > 0 else { fatalError("Generator.nextInt: upper bound must be positive, got \(upperBound)") }
        var g = self
        return Int.random(in: 0..<upperBound, using: &g)
    }

    /// A random permutation of `0..<n` (Fisher-Yates).
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = nextInt(below: i + 1)
                p.swapAt(i, j)
            }
        }
        return p
    }

    /// The process-wide generator used when none is given; seed it with ``manualSeed(_:)``.
    public static let global = Generator(seed: 0x5EED)
}

/// Seeds the global generator, as `torch.manual_seed`.
public func manualSeed(_ seed: UInt64) {
    Generator.global.reseed(seed)
}
