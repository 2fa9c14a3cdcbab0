/// Wall time per named stage of a training run, in the order stages first ran; a stage that runs several
/// times (e.g. one EASE fit per candidate) adds up, with its count. Reading a monotonic clock is not I/O and
/// changes no result: the models stay deterministic for a seed.
public struct StageTimes: Sendable {
    public struct Stage: Sendable, Hashable {
        public var name: String
        public var seconds: Double
        public var count: Int
    }

    public private(set) var stages: [Stage] = []

    public init() {}

    /// Runs `body` and adds its wall time to `name`.
    public mutating func measure<Result>(_ name: String, _ body: () throws -> Result) rethrows -> Result {
        let started = ContinuousClock.now
        defer { add(name, seconds: Self.seconds(ContinuousClock.now - started)) }
        return try body()
    }

    public mutating func add(_ name: String, seconds: Double, count: Int = 1) {
        if let index = stages.firstIndex(where: { $0.name == name }) {
            stages[index].seconds += seconds
            stages[index].count += count
        } else {
            stages.append(Stage(name: name, seconds: seconds, count: count))
        }
    }

    /// Another run's stages under `prefix` (e.g. the top-N choice's inside the trainer's).
    public mutating func add(_ other: StageTimes, prefix: String) {
        for stage in other.stages { add(prefix + stage.name, seconds: stage.seconds, count: stage.count) }
    }

    public var totalSeconds: Double { stages.reduce(0) { $0 + $1.seconds } }

    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
