import Events
import Logging
import Redis
import Synchronization

/// Where a record was read from. Identifies a record across replays (the event id identifies the
/// event, which a producer may have written twice).
public struct RecordPosition: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// `topic/partition`: the field of the applied-offsets hash.
    public var partitionField: String { Self.partitionField(topic: topic, partition: partition) }
    public static func partitionField(topic: String, partition: Int32) -> String { "\(topic)/\(partition)" }
    /// `topic/partition/offset`: stored in event markers.
    public var reference: String { "\(topic)/\(partition)/\(offset)" }
}

/// One interaction to apply, with the genres (movies) or category (polls) of its subject.
public struct FeatureEvent: Sendable, Hashable {
    public var event: Event
    public var position: RecordPosition
    public var groups: [String]

    public init(event: Event, position: RecordPosition, groups: [String]) {
        self.event = event
        self.position = position
        self.groups = groups
    }
}

/// What happened to each event of a batch.
public struct FeatureApplyOutcome: Sendable, Hashable {
    public enum Status: Sendable, Hashable {
        /// Applied by this call.
        case applied(weightUnits: Int64)
        /// Applied before from this same record (a replay); nothing applied twice.
        case replayed
        /// The event id was applied from another record: a producer-side duplicate.
        case duplicate
        /// Older than the largest window plus the allowed lateness.
        case late
        /// Catalog events carry no interaction features.
        case catalog
        /// Redis refused this event with an error it would give again for the same input (a script
        /// error, a key of the wrong type): it is not applied, and the caller dead-letters it with
        /// `reason` instead of retrying the batch forever. Redis does not roll a script back, so what
        /// the script wrote before the refusing command stays.
        case rejected(reason: String)
    }

    public var statuses: [Status]
    /// Wall time of the user-state step (with poll votes) and of the popularity step.
    public var userStepDuration: Duration = .zero
    public var popularityStepDuration: Duration = .zero

    public func count(_ predicate: (Status) -> Bool) -> Int { statuses.reduce(0) { $0 + (predicate($1) ? 1 : 0) } }
    public var applied: Int { count { if case .applied = $0 { true } else { false } } }
    public var late: Int { count { $0 == .late } }
    public var duplicates: Int { count { $0 == .duplicate } }
    public var replayed: Int { count { $0 == .replayed } }
    public var rejected: Int { count { if case .rejected = $0 { true } else { false } } }
}

extension RedisError {
    /// An error reply that the same command would get again for the same input: a Lua error raised by our
    /// scripts on an event (`ERR user_script:14: attempt to compare nil with number`, or an error of a
    /// command they called, which Redis suffixes `script: …, on @user_script:N`), a key of the wrong type,
    /// or our scripts' own refusals (`BADVOTE`). Replies about the server's state (`ERR max number of
    /// clients reached`, `OOM`, `NOPERM`, `READONLY`, `LOADING`, `BUSY`, …) are not: the batch is retried.
    public var refusesInput: Bool {
        guard case .server(let message) = self, let code = serverErrorCode, !isRetriable else { return false }
        switch code {
        case "WRONGTYPE", "BADVOTE": return true
        case "ERR": return message.contains("user_script")
        default: return false
        }
    }
}

/// Applies batches of events to Redis, idempotently: any prefix of a batch may have been applied
/// before (a crash between apply and commit, a rebalance), and the result is as if each record were
/// applied once.
///
/// - User state changes together with a per-event marker in one script: a replayed event is skipped,
///   and the marker says whether it came from the same record (a replay) or another (a duplicate).
/// - Popularity changes together with the last applied offset per partition, compare-and-set: a record
///   at or below it was applied already. Weights are integers, so pre-aggregating a batch is exact.
/// - Poll votes are last-writer-wins by event time: idempotent by construction.
public final class FeatureWriter: Sendable {
    public let configuration: FeatureConfiguration
    public let keys: FeatureKeys
    private let redis: RedisClient
    private let logger: Logger
    /// Last applied offset per `domain|topic/partition`, as last read or written by this member. Only
    /// a cache: the compare-and-set in the script is what guarantees correctness.
    private let appliedOffsets = Mutex<[String: AppliedOffset]>([:])
    /// Topics whose id at hand turned out stale (see ``takeStaleTopicIDs()``).
    private let staleTopicIDs = Mutex<Set<String>>([])

    public init(configuration: FeatureConfiguration, redis: RedisClient, logger: Logger = Logger(label: "streamrec.features")) {
        self.configuration = configuration
        keys = FeatureKeys(prefix: configuration.keyPrefix, topology: configuration.topology)
        self.redis = redis
        self.logger = logger
    }

    static let markerExpirySlackSeconds: Int64 = 600

    /// Topics recreated while the id passed for them was still the old one (the log end told, not the
    /// id), since the last call: look their ids up again before the next batch. Until then their
    /// offsets are stored without an id.
    public func takeStaleTopicIDs() -> Set<String> {
        staleTopicIDs.withLock { stale in
            defer { stale.removeAll() }
            return stale
        }
    }

    /// Call after a rebalance: another member may have applied records of partitions we get back.
    public func forgetAppliedOffsets() {
        appliedOffsets.withLock { $0.removeAll() }
    }

    /// Applies `events` (in record order) as of wall-clock time `now` (ms since the epoch).
    /// - Parameter logEnds: the log end offset (high watermark) of the partitions in the batch, by
    ///   ``RecordPosition/partitionField``, as the consumer last fetched them. A partition whose applied
    ///   offset is at or past its log end cannot be a replay — offsets of a log never go back — so the
    ///   topic was recreated (a broker restarted empty, a topic deleted and created again): its records
    ///   are counted from their new offsets instead of being skipped as already applied.
    /// - Parameter topicIDs: the Kafka topic id of the batch's topics, by name. A topic gets a new id each
    ///   time it is created, so an applied offset stored with another id belongs to an earlier incarnation
    ///   and is not trusted, whatever the log end: this catches a recreated partition that grew past the
    ///   old applied offset before it was read, which the log-end rule cannot. Offsets stored without an
    ///   id (before ids were kept, or from a broker that has none) fall back to the log-end rule.
    ///
    /// An error Redis would give again for the same input (``RedisError/refusesInput``) does not fail the
    /// batch: the batch is applied again in halves, in record order, down to the events Redis refuses on
    /// their own, which come back as ``FeatureApplyOutcome/Status/rejected(reason:)``. Everything else is
    /// applied once: re-applying a part is a replay, so an event whose user state the refused attempt
    /// had written comes back `replayed`. Other errors are thrown: retry the batch later.
    public func apply(
        _ events: [FeatureEvent], now: Int64, logEnds: [String: Int64] = [:], topicIDs: [String: String] = [:]
    ) async throws(RedisError) -> FeatureApplyOutcome {
        let logs = PartitionLogs(logEnds: logEnds, topicIDs: topicIDs)
        do {
            return try await applyAll(events, now: now, logs: logs)
        } catch where error.refusesInput {
            logger.warning("Redis refused part of a batch; applying it in parts to set the refused events aside", metadata: ["error": "\(error)", "events": "\(events.count)"])
            var outcome = FeatureApplyOutcome(statuses: [])
            outcome.statuses.reserveCapacity(events.count)
            try await applyIsolatingRefusals(events[...], now: now, logs: logs, into: &outcome)
            // A few bad events are the events' fault; most of a batch refused says a shared key is broken
            // (a popularity bucket, the offsets hash): retried, not dead-lettered wholesale.
            if outcome.rejected > 1, outcome.rejected * 2 > events.count { throw error }
            return outcome
        }
    }

    /// Applies `events` whole, or in halves when Redis refuses them, appending their statuses in order.
    private func applyIsolatingRefusals(
        _ events: ArraySlice<FeatureEvent>, now: Int64, logs: PartitionLogs, into outcome: inout FeatureApplyOutcome
    ) async throws(RedisError) {
        do {
            let part = try await applyAll(Array(events), now: now, logs: logs)
            outcome.statuses += part.statuses
            outcome.userStepDuration += part.userStepDuration
            outcome.popularityStepDuration += part.popularityStepDuration
        } catch where error.refusesInput {
            if events.count == 1 {
                let event = events.first!
                logger.error(
                    "Redis refuses this event; it goes to the dead-letter topic",
                    metadata: ["event_id": "\(event.event.eventID)", "record": "\(event.position.reference)", "error": "\(error)"]
                )
                outcome.statuses.append(.rejected(reason: "\(error)"))
                return
            }
            let middle = events.startIndex + events.count / 2
            try await applyIsolatingRefusals(events[..<middle], now: now, logs: logs, into: &outcome)
            try await applyIsolatingRefusals(events[middle...], now: now, logs: logs, into: &outcome)
        }
    }

    private func applyAll(_ events: [FeatureEvent], now: Int64, logs: PartitionLogs) async throws(RedisError) -> FeatureApplyOutcome {
        var statuses = [FeatureApplyOutcome.Status](repeating: .late, count: events.count)
        let oldestOnTime = now - configuration.horizonMilliseconds
        var onTime: [Int] = []
        for (index, item) in events.enumerated() {
            if item.event.type.isCatalog {
                statuses[index] = .catalog
            } else if item.event.occurredAt.millisecondsSinceEpoch >= oldestOnTime {
                onTime.append(index)
            }
        }
        let votes = onTime.filter { events[$0].event.type == .pollVote }
        let started = ContinuousClock.now
        let userStatuses: [Int: FeatureApplyOutcome.Status]
        do {
            async let votesApplied: Void = applyVotes(votes.map { events[$0] })
            userStatuses = try await applyToUsers(onTime, of: events)
            try await votesApplied
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
        for (index, status) in userStatuses { statuses[index] = status }
        let popularityStarted = ContinuousClock.now

        // Popularity: everything applied now or earlier from the same record, unless its offset is
        // already covered. Partitions of late and duplicate records advance too. Domains are
        // independent (one hash tag each): both at once.
        let finalStatuses = statuses
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for domain in EventDomain.allCases {
                    let inDomain = events.indices.filter { events[$0].event.domain == domain && !events[$0].event.type.isCatalog }
                    guard !inDomain.isEmpty else { continue }
                    group.addTask {
                        try await self.applyToPopularity(
                            domain: domain, indices: inDomain, events: events, statuses: finalStatuses, userStatuses: userStatuses, logs: logs
                        )
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
        let finished = ContinuousClock.now
        return FeatureApplyOutcome(statuses: statuses, userStepDuration: popularityStarted - started, popularityStepDuration: finished - popularityStarted)
    }

    // MARK: - Users

    private func applyToUsers(_ indices: [Int], of events: [FeatureEvent]) async throws(RedisError) -> [Int: FeatureApplyOutcome.Status] {
        guard !indices.isEmpty else { return [:] }
        // A user's events stay in one call and in record order: the rating mean depends on order.
        let chunks = chunk(indices) { self.keys.userTag(events[$0].event.userID) }
        var results: [Int: FeatureApplyOutcome.Status] = [:]
        do {
            try await withThrowingTaskGroup(of: [(Int, FeatureApplyOutcome.Status)].self) { group in
                for chunk in chunks {
                    group.addTask { try await self.applyUserChunk(chunk, of: events) }
                }
                for try await chunkResults in group {
                    for (index, status) in chunkResults { results[index] = status }
                }
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
        return results
    }

    private func applyUserChunk(_ indices: [Int], of events: [FeatureEvent]) async throws(RedisError) -> [(Int, FeatureApplyOutcome.Status)] {
        var scriptKeys: [any RedisArgumentConvertible] = []
        scriptKeys.reserveCapacity(indices.count * 4)
        let weights = configuration.weights
        var arguments: [any RedisArgumentConvertible] = [
            configuration.historyLength, configuration.seenLimit, weights.ratingPriorMean, weights.ratingPriorStrength,
            max(1, configuration.userIdleExpiry.components.seconds),
        ]
        arguments.reserveCapacity(5 + indices.count * 9)
        for index in indices {
            let item = events[index]
            let event = item.event
            let user = event.userID
            scriptKeys.append(keys.eventMarker(user: user, eventID: event.eventID))
            scriptKeys.append(keys.userProfile(user))
            scriptKeys.append(keys.userHistory(user, event.domain))
            scriptKeys.append(keys.userSeen(user, event.domain))
            let time = event.occurredAt.millisecondsSinceEpoch
            var halfStars = 0
            if case .rating(let value) = event.payload { halfStars = Int((value * 2).rounded()) }
            // A marker must outlive every replay of its event that still counts (the horizon from the
            // event's time), with minutes of slack: a producer's clock ahead of the processor's would
            // otherwise leave it under a millisecond to live.
            let markerExpiry = (time + configuration.horizonMilliseconds) / 1000 + Self.markerExpirySlackSeconds
            arguments.append(item.position.reference)
            arguments.append(event.subjectID)
            arguments.append(event.type.rawValue)
            arguments.append(weights.units(for: event.type).map(String.init) ?? "R")
            arguments.append(halfStars)
            arguments.append(time)
            arguments.append(markerExpiry)
            arguments.append(item.groups.joined(separator: "\u{1F}"))
            arguments.append(event.eventID)
        }
        let reply = try await redis.evaluate(FeatureScripts.applyToUsers, keys: scriptKeys, arguments: arguments)
        guard let replies = reply.array, replies.count == indices.count else {
            throw .unexpectedReply("user script returned \(reply)")
        }
        var results: [(Int, FeatureApplyOutcome.Status)] = []
        results.reserveCapacity(indices.count)
        for (index, value) in zip(indices, replies) {
            guard let text = value.string, let bar = text.firstIndex(of: "|") else { throw .unexpectedReply("user script item \(value)") }
            switch text[..<bar] {
            case "1":
                guard let units = Int64(text[text.index(after: bar)...]) else { throw .unexpectedReply("user script item \(text)") }
                results.append((index, .applied(weightUnits: units)))
            case "2": results.append((index, .replayed))
            default: results.append((index, .duplicate))
            }
        }
        return results
    }

    /// Weight units recorded for a replayed event: needed for its popularity effect if that part was
    /// not applied before the crash.
    private func replayedWeights(_ indices: [Int], of events: [FeatureEvent]) async throws(RedisError) -> [Int: Int64] {
        guard !indices.isEmpty else { return [:] }
        let commands = indices.map { RedisCommand("GET", keys.eventMarker(user: events[$0].event.userID, eventID: events[$0].event.eventID)) }
        let replies = try await redis.pipeline(commands)
        var weights: [Int: Int64] = [:]
        for (index, reply) in zip(indices, replies) {
            guard let text = reply.string, let bar = text.firstIndex(of: "|"), let units = Int64(text[text.index(after: bar)...]) else {
                throw .unexpectedReply("event marker \(reply)")
            }
            weights[index] = units
        }
        return weights
    }

    // MARK: - Popularity

    private func applyToPopularity(
        domain: EventDomain, indices: [Int], events: [FeatureEvent],
        statuses: [FeatureApplyOutcome.Status], userStatuses: [Int: FeatureApplyOutcome.Status], logs: PartitionLogs
    ) async throws(RedisError) {
        let offsetsKey = keys.appliedOffsets(domain)
        var lastOffsets: [String: Int64] = [:]
        var topics: [String: String] = [:]
        for index in indices {
            let position = events[index].position
            lastOffsets[position.partitionField] = max(lastOffsets[position.partitionField] ?? -1, position.offset)
            topics[position.partitionField] = position.topic
        }
        let fields = lastOffsets.keys.sorted()
        for attempt in 0..<5 {
            let stored = try await knownAppliedOffsets(domain: domain, fields: fields, key: offsetsKey)
            // An applied offset of an earlier incarnation of the partition says nothing about this one.
            var applied: [String: Int64] = [:]
            // Partitions whose id at hand may be stale (see below): their offset is written without one.
            var unsureOfID: Set<String> = []
            for field in fields {
                guard let done = stored[field] else { continue }
                let topicID = logs.topicIDs[topics[field] ?? ""]
                if let storedID = done.topicID, let topicID, storedID != topicID {
                    logger.warning(
                        "partition belongs to a recreated topic (new topic id): counting from its offsets",
                        metadata: ["domain": "\(domain)", "partition": "\(field)", "applied": "\(done.offset)", "stored_topic_id": "\(storedID)", "topic_id": "\(topicID)"]
                    )
                } else if let end = logs.logEnds[field], done.offset >= end {
                    // Recreated, yet the id at hand is the stored one: it was looked up before the
                    // recreation. Labelling the new offsets with it would make the true id, once looked
                    // up, disown them and count their records again.
                    if topicID != nil {
                        unsureOfID.insert(field)
                        staleTopicIDs.withLock { _ = $0.insert(topics[field] ?? "") }
                    }
                    logger.warning(
                        "partition offsets restarted below the applied offset (topic recreated?): counting from the new offsets",
                        metadata: ["domain": "\(domain)", "partition": "\(field)", "applied": "\(done.offset)", "log_end": "\(end)"]
                    )
                } else {
                    applied[field] = done.offset
                }
            }
            // Records already covered by the applied offsets are skipped.
            var fresh: [Int] = []
            var replayedIndices: [Int] = []
            for index in indices {
                let position = events[index].position
                if let done = applied[position.partitionField], position.offset <= done { continue }
                switch userStatuses[index] {
                case .applied?: fresh.append(index)
                case .replayed?: fresh.append(index); replayedIndices.append(index)
                default: continue
                }
            }
            let replayWeights = try await replayedWeights(replayedIndices, of: events)
            var call = PopularityCall()
            for index in fresh {
                let units: Int64
                if case .applied(let weight) = statuses[index] { units = weight } else { units = replayWeights[index] ?? 0 }
                guard units != 0 else { continue }
                let item = events[index]
                let time = item.event.occurredAt.millisecondsSinceEpoch
                for window in configuration.windows {
                    let bucket = window.bucket(containing: time)
                    // The bucket is read until its end plus the window length; lateness covers slow readers.
                    let expiry = ((bucket + 1) * window.bucketMilliseconds + window.lengthMilliseconds + configuration.allowedLateness.milliseconds) / 1000 + 1
                    call.add(keys.popularityBucket(domain, group: nil, window: window.name, bucket: bucket), expiry: expiry, item: item.event.subjectID, units: units)
                    for group in item.groups {
                        call.add(keys.popularityBucket(domain, group: group, window: window.name, bucket: bucket), expiry: expiry, item: item.event.subjectID, units: units)
                    }
                }
            }
            var scriptKeys: [any RedisArgumentConvertible] = [offsetsKey]
            scriptKeys.append(contentsOf: call.bucketKeys)
            var arguments: [any RedisArgumentConvertible] = [fields.count]
            var written: [String: AppliedOffset] = [:]
            for field in fields {
                written[field] = AppliedOffset(
                    offset: max(applied[field] ?? -1, lastOffsets[field]!), topicID: unsureOfID.contains(field) ? nil : logs.topicIDs[topics[field] ?? ""]
                )
                arguments.append(field)
                // Compare-and-set against what is stored; the new value from this incarnation's offsets.
                arguments.append(stored[field]?.stored ?? "")
                arguments.append(written[field]!.stored)
            }
            for expiry in call.expiries { arguments.append(expiry) }
            for (keyIndex, entries) in call.increments.enumerated() {
                for (item, units) in entries.sorted(by: { $0.key < $1.key }) where units != 0 {
                    arguments.append(keyIndex + 2)
                    arguments.append(item)
                    arguments.append(units)
                }
            }
            do {
                try await redis.evaluate(FeatureScripts.applyToPopularity, keys: scriptKeys, arguments: arguments)
                appliedOffsets.withLock { cache in
                    for field in fields { cache[domain.rawValue + "|" + field] = written[field]! }
                }
                return
            } catch where error.serverErrorCode == "STALE" {
                logger.info("applied offsets moved under us (another member); re-reading", metadata: ["domain": "\(domain)", "attempt": "\(attempt)"])
                forgetAppliedOffsets()
            }
        }
        throw .unexpectedReply("popularity offsets kept changing under this member")
    }

    private func knownAppliedOffsets(domain: EventDomain, fields: [String], key: String) async throws(RedisError) -> [String: AppliedOffset] {
        var known: [String: AppliedOffset] = [:]
        var missing: [String] = []
        appliedOffsets.withLock { cache in
            for field in fields {
                if let offset = cache[domain.rawValue + "|" + field] { known[field] = offset } else { missing.append(field) }
            }
        }
        guard !missing.isEmpty else { return known }
        let reply = try await redis.send(RedisCommand("HMGET", arguments: [key] + missing))
        guard let values = reply.array, values.count == missing.count else { throw .unexpectedReply("HMGET returned \(reply)") }
        for (field, value) in zip(missing, values) {
            if let text = value.string {
                guard let offset = AppliedOffset(stored: text) else { throw .unexpectedReply("applied offset \(text)") }
                known[field] = offset
            }
        }
        return known
    }

    // MARK: - Polls

    private func applyVotes(_ votes: [FeatureEvent]) async throws(RedisError) {
        guard !votes.isEmpty else { return }
        let chunks = chunk(Array(votes.indices)) { self.keys.pollTag(votes[$0].event.subjectID) }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for chunk in chunks {
                    group.addTask {
                        var scriptKeys: [any RedisArgumentConvertible] = []
                        var arguments: [any RedisArgumentConvertible] = []
                        for index in chunk {
                            let event = votes[index].event
                            guard case .vote(let option) = event.payload else { continue }
                            scriptKeys.append(self.keys.pollVotes(event.subjectID))
                            scriptKeys.append(self.keys.pollTally(event.subjectID))
                            scriptKeys.append(self.keys.pollTotal(event.subjectID))
                            arguments.append(event.userID)
                            arguments.append(option)
                            arguments.append(event.occurredAt.millisecondsSinceEpoch)
                            arguments.append(event.eventID)
                        }
                        try await self.redis.evaluate(FeatureScripts.applyVotes, keys: scriptKeys, arguments: arguments)
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
    }

    // MARK: - Chunking

    /// Splits indices into script calls: everything of one hash tag (a user, a poll) in one call, in
    /// order; on a cluster, one hash slot per call; otherwise about `eventsPerScript` per call.
    private func chunk(_ indices: [Int], hashTag: (Int) -> String) -> [[Int]] {
        let perCall = max(1, configuration.eventsPerScript)
        var byBucket: [Int: [Int]] = [:]
        let lanes = max(1, (indices.count + perCall - 1) / perCall)
        for index in indices {
            let slot = RedisKeySlot.slot(hashTag(index))
            let bucket = configuration.topology == .cluster ? slot : slot % lanes
            byBucket[bucket, default: []].append(index)
        }
        return byBucket.keys.sorted().map { byBucket[$0]! }
    }
}

/// Aggregated popularity increments of one script call.
private struct PopularityCall {
    var bucketKeys: [String] = []
    var expiries: [Int64] = []
    var increments: [[String: Int64]] = []
    var indexOfKey: [String: Int] = [:]

    mutating func add(_ key: String, expiry: Int64, item: String, units: Int64) {
        let index: Int
        if let known = indexOfKey[key] {
            index = known
        } else {
            index = bucketKeys.count
            indexOfKey[key] = index
            bucketKeys.append(key)
            expiries.append(expiry)
            increments.append([:])
        }
        increments[index][item, default: 0] += units
    }
}
