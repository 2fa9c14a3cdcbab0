/// Sticky assignment: a stable hash of (experiment id, user id), the same in every process, build and
/// machine. Swift's `Hasher` is seeded per process, so it cannot be used; FNV-1a (64-bit) over the UTF-8
/// bytes is, followed by a 64-bit finaliser (SplitMix64's) because FNV-1a's high bits mix poorly for ids
/// that differ only in their last characters (`u1`, `u2`, …).
public enum ExperimentAssignment {
    /// FNV-1a 64 of `experiment`, a 0 byte (ids contain none, so "ab"+"c" and "a"+"bc" differ), then `user`.
    public static func hash(experiment: String, user: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        for byte in experiment.utf8 { mix(byte) }
        mix(0)
        for byte in user.utf8 { mix(byte) }
        var z = hash
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The hash as a number in [0, 1): the user is the challenger's when it is below the share.
    public static func unitInterval(experiment: String, user: String) -> Double {
        Double(hash(experiment: experiment, user: user) >> 11) / Double(UInt64(1) << 53)
    }
}
