import ClientRuntime
import Events

/// A sliding popularity window evaluated at bucket granularity: `length` must be a whole number of
/// `bucket`s. A read at time `now` sums the buckets that overlap `(now − length, now]`, so it covers
/// between `length − bucket` and `length` of history (see docs/features.md).
public struct PopularityWindow: Sendable, Hashable, CustomStringConvertible {
    /// Appears in keys and in the API (`1h`, `24h`, `7d`).
    public var name: String
    public var lengthMilliseconds: Int64
    public var bucketMilliseconds: Int64

    public init(name: String, length: Duration, bucket: Duration) {
        self.name = name
        lengthMilliseconds = length.milliseconds
        bucketMilliseconds = bucket.milliseconds
    }

    public var bucketCount: Int64 { lengthMilliseconds / bucketMilliseconds }

    /// The bucket an event at `time` falls in. A time exactly on an edge opens the next bucket.
    public func bucket(containing milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / bucketMilliseconds : (milliseconds - bucketMilliseconds + 1) / bucketMilliseconds
    }

    /// The buckets a read at `now` sums: the current one and the `bucketCount − 1` before it.
    public func buckets(at now: Int64) -> ClosedRange<Int64> {
        let current = bucket(containing: now)
        return (current - bucketCount + 1)...current
    }

    public var description: String { "\(name) (buckets of \(bucketMilliseconds / 1000)s)" }

    /// `1h:5m,24h:1h,7d:6h` → windows. The name of each is the text before the colon.
    public static func parseList(_ text: String) -> Result<[PopularityWindow], FeatureConfigurationError> {
        var windows: [PopularityWindow] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":").map { String($0).trimmingWhitespace() }
            guard parts.count == 2, let length = parseDuration(parts[0]), let bucket = parseDuration(parts[1]) else {
                return .failure(.init("each window is length:bucket, e.g. 1h:5m; got \"\(item)\""))
            }
            let window = PopularityWindow(name: parts[0], length: length, bucket: bucket)
            guard window.bucketMilliseconds > 0, window.lengthMilliseconds % window.bucketMilliseconds == 0,
                window.bucketCount <= 1000
            else {
                return .failure(.init("window \(parts[0]) must be a whole number (≤ 1000) of its \(parts[1]) buckets"))
            }
            guard !windows.contains(where: { $0.name == window.name }) else { return .failure(.init("window \(parts[0]) is listed twice")) }
            windows.append(window)
        }
        guard !windows.isEmpty else { return .failure(.init("at least one window is needed")) }
        return .success(windows)
    }

    /// `500ms`, `30s`, `5m`, `1h`, `7d`.
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let value = Int64(text.dropLast(suffix.count)), value > 0 else { return nil }
            return .milliseconds(value * factor)
        }
        return nil
    }
}

public struct FeatureConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How much each interaction counts towards popularity and affinity.
///
/// Weights are stored in Redis as whole **weight units** (1/10 000 of a weight): sums of integers are
/// exact in a double, so the result does not depend on how events were grouped into batches, and a
/// replay after a crash yields bit-for-bit the same state as one clean pass.
public struct EventWeights: Sendable, Hashable {
    public static let unitsPerWeight: Double = 10_000

    public var view: Double = 0.2
    public var like: Double = 1
    public var dislike: Double = -1
    /// A rating counts as `rating − mean`, where the mean is the user's earlier ratings shrunk towards
    /// `ratingPriorMean` with the weight of `ratingPriorStrength` ratings.
    public var ratingPriorMean: Double = 3.5
    public var ratingPriorStrength: Double = 2
    public var pollImpression: Double = 0
    public var pollExpand: Double = 1
    public var pollVote: Double = 2
    public var pollShare: Double = 3

    public init() {}

    /// The fixed weight of a type, in units; `nil` for ratings (computed from the user's mean) and
    /// catalog events (no weight).
    public func units(for type: EventType) -> Int64? {
        let weight: Double
        switch type {
        case .movieView: weight = view
        case .movieLike: weight = like
        case .movieDislike: weight = dislike
        case .pollImpression: weight = pollImpression
        case .pollExpand: weight = pollExpand
        case .pollVote: weight = pollVote
        case .pollShare: weight = pollShare
        case .movieRating, .movieAdded, .pollCreated: return nil
        }
        return Self.units(weight)
    }

    public static func units(_ weight: Double) -> Int64 { Int64((weight * unitsPerWeight).rounded()) }
    public static func weight(_ units: Double) -> Double { units / unitsPerWeight }
}

public struct FeatureConfiguration: Sendable, Hashable {
    /// Prefix of every key; the `v2` is the layout version (a new layout gets a new prefix).
    public var keyPrefix: String = "sr:v2"
    public var windows: [PopularityWindow] = [
        PopularityWindow(name: "1h", length: .seconds(3600), bucket: .seconds(300)),
        PopularityWindow(name: "24h", length: .seconds(86_400), bucket: .seconds(3600)),
        PopularityWindow(name: "7d", length: .seconds(604_800), bucket: .seconds(21_600)),
    ]
    /// How far behind the largest window an event may be and still count (measured against the
    /// wall clock when it is applied).
    public var allowedLateness: Duration = .seconds(3600)
    /// Entries kept in a user's recent history, per domain.
    public var historyLength: Int = 200
    /// Items kept in a user's seen-set, per domain (oldest dropped first). The set may grow to
    /// ``seenTrimSlack`` past the limit before it is cut back to it: a cut is one more command.
    public var seenLimit: Int = 5000
    public var seenTrimSlack: Int { max(8, seenLimit / 8) }
    /// A user's keys expire after this long without activity.
    public var userIdleExpiry: Duration = .seconds(90 * 86_400)
    public var weights = EventWeights()
    /// Trending = short-window rate / (long-window rate + prior rate); see docs/features.md.
    public var trendingShortWindow: String = "1h"
    public var trendingLongWindow: String = "24h"
    public var trendingPrior: Double = 1
    /// Users (per domain) whose state the processor keeps in memory between batches; past it the least
    /// recently used are dropped and read again from Redis when next needed.
    public var cachedUsers: Int = 200_000

    public init() {}

    var largestWindowMilliseconds: Int64 { windows.map(\.lengthMilliseconds).max() ?? 0 }

    /// Events older than this, relative to the wall clock at apply time, are late.
    public var horizonMilliseconds: Int64 { largestWindowMilliseconds + allowedLateness.milliseconds }

    public func window(named name: String) -> PopularityWindow? { windows.first { $0.name == name } }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
