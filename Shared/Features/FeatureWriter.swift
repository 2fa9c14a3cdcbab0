import ClientRuntime
import Events
import Foundation
import Logging
import Redis
import Synchronization

/// Applies batches of events to Redis, idempotently: any prefix of a batch may have been applied
/// before (a crash between apply and commit, a rebalance), and the result is as if each record were
/// applied once.
///
/// A batch costs a few round trips and about one command per user it touches, whatever the number of
/// events (docs/features.md):
/// 1. **Read** in one pipeline: the state of users not in the cache (`HGETALL`), where the batch's event
///    ids were applied from (`HMGET` per hour), the applied offsets not in the cache.
/// 2. **Compute** in memory, in record order: an event id applied from another record is a producer's
///    duplicate; a record at or below the user's applied offset of its partition is a replay; everything
///    else changes the user's state. Popularity is summed per (item, time quantum), tallies per (poll, option).
/// 3. **Write**, in this order: the new event ids; popularity and tallies in one script per domain,
///    compare-and-set on the applied offsets (a crash after it: the replay skips popularity by offset and
///    applies the users); each changed user's fields in one `HSET` carrying the user's applied offset
///    (a crash part-way: each user's own offset says what it has).
///
/// Each user's hash has one writer: Kafka's key is the user, so the member owning the partition.
///
/// The batch's users, event ids and partitions are named once (``BatchNames``) and referred to by slot from
/// then on; cached user states are changed in place (``UserStateBox``). So a writer applies one batch at a
/// time, as the processor and the backfill call it; a second call while one runs stops the process.
public final class FeatureWriter: Sendable {
    public let configuration: FeatureConfiguration
    public let keys: FeatureKeys
    private let redis: RedisClient
    private let logger: Logger
    /// Last applied popularity offset per `domain|topic/partition`, as last read or written by this
    /// member. Only a cache: the compare-and-set in the script is what guarantees correctness.
    private let appliedOffsets = Mutex<[String: AppliedOffset]>([:])
    private let users: UserStateCache
    /// Set while a batch is applied: cached states are changed in place, so a second batch at the same time
    /// would change the same ``UserStateBox`` from two tasks. Callers apply one batch at a time; this makes a
    /// caller that does not stop at once instead of racing.
    private let applying = Atomic<Bool>(false)
    /// The greatest common divisor of the windows' bucket lengths: events in the same quantum share every
    /// window's bucket, so their popularity is summed before keys are named.
    private let popularityTimeQuantum: Int64
    /// Topics whose id at hand turned out stale (see ``takeStaleTopicIDs()``).
    private let staleTopicIDs = Mutex<Set<String>>([])

    public init(configuration: FeatureConfiguration, redis: RedisClient, logger: Logger = Logger(label: "streamrec.features")) {
        self.configuration = configuration
        keys = FeatureKeys(prefix: configuration.keyPrefix)
        self.redis = redis
        self.logger = logger
        users = UserStateCache(capacity: configuration.cachedUsers)
        popularityTimeQuantum = configuration.windows.map(\.bucketMilliseconds).reduce(0) { Self.greatestCommonDivisor($0, $1) }
    }

    /// Event ids are kept until their event would be late, with minutes of slack: a producer's clock
    /// ahead of the processor's would otherwise leave them under a millisecond to live.
    static let eventIDExpirySlackSeconds: Int64 = 600
    static let eventIDBucketMilliseconds: Int64 = 3_600_000

    /// Topics recreated while the id passed for them was still the old one (the log end told, not the
    /// id), since the last call: look their ids up again before the next batch. Until then their
    /// offsets are stored without an id.
    public func takeStaleTopicIDs() -> Set<String> {
        staleTopicIDs.withLock { stale in
            defer { stale.removeAll() }
            return stale
        }
    }

    /// Call after a rebalance: another member may have applied records of partitions we get back, so
    /// neither the applied offsets nor the user states this member remembers can be trusted.
    public func forgetAppliedOffsets() {
        appliedOffsets.withLock { $0.removeAll() }
        users.removeAll()
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
    /// An error Redis would give again for the same input (``RedisError/refusesInput``: a user's state
    /// key or a tally key of the wrong type) does not fail the batch: the events it concerns come back
    /// ``FeatureApplyOutcome/Status/rejected(reason:)`` with no effect anywhere, and the rest is applied.
    /// If most of a batch would be refused, a shared key is broken rather than the events: the error is
    /// thrown. Other errors are thrown too: retry the batch later.
    public func apply(
        _ events: [FeatureEvent], now: Int64, logEnds: [String: Int64] = [:], topicIDs: [String: String] = [:]
    ) async throws(RedisError) -> FeatureApplyOutcome {
        precondition(applying.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged, "FeatureWriter.apply: one batch at a time")
        defer { applying.store(false, ordering: .releasing) }
        let logs = PartitionLogs(logEnds: logEnds, topicIDs: topicIDs)
        var refused: [Int: String] = [:]
        var staleAttempts = 0
        // Each refusal sets events aside for good, so refusals end; only STALE answers are counted.
        while staleAttempts < 5 {
            let result: Attempt
            do {
                result = try await applyOnce(events, now: now, logs: logs, refused: refused)
            } catch {
                // A write may have landed or not: what this member remembers is no longer sure.
                users.removeAll()
                throw error
            }
            switch result {
            case .done(let outcome):
                return outcome
            case .stale:
                staleAttempts += 1
                logger.info("applied offsets moved under us (another member); re-reading", metadata: ["attempt": "\(staleAttempts)"])
                forgetAppliedOffsets()
            case .refuse(let indices, let error):
                logger.warning("Redis refuses events of this batch; they go to the dead-letter topic", metadata: ["error": "\(error)", "events": "\(indices.count)"])
                for index in indices { refused[index] = "\(error)" }
                if refused.count > 1, refused.count * 2 > events.count { throw error }
                // The other domain's script may have landed: its offsets are read again, not expected.
                appliedOffsets.withLock { $0.removeAll() }
            }
        }
        throw .unexpectedReply("popularity offsets kept changing under this member")
    }

    /// Releases the event ids of `events` that were set aside (``FeatureApplyOutcome/Status/rejected(reason:)``,
    /// dead-lettered as `feature_rejected`); returns how many were. A set-aside id keeps its reason so that a
    /// retry or replay of its record never applies it; a copy sent back by `trainer redrive-dead-letters` is a
    /// new record, which that id would make a duplicate. Once the key Redis refused is fixed, releasing the
    /// id lets the copy apply. Ids applied normally are left alone (the value has no `!`); nothing else
    /// writes a set-aside id, so reading then deleting races with nobody.
    public func releaseSetAside(_ events: [Event]) async throws(RedisError) -> Int {
        var idsByKey: [String: [String]] = [:]
        for event in events where !event.type.isCatalog {
            idsByKey[keys.eventIDs(event.domain, hour: Self.eventIDHour(event)), default: []].append(event.eventID)
        }
        let idKeys = idsByKey.keys.sorted()
        guard !idKeys.isEmpty else { return 0 }
        let replies = try await redis.pipeline(idKeys.map { RedisCommand("HMGET", arguments: [$0] + idsByKey[$0]!) })
        var deletions: [RedisCommand] = []
        var released = 0
        for (key, reply) in zip(idKeys, replies) {
            if case .error(let message) = reply { throw .server(message) }
            guard let values = reply.array, values.count == idsByKey[key]!.count else { throw .unexpectedReply("HMGET returned \(reply)") }
            let setAside = zip(idsByKey[key]!, values).filter { $0.1.string?.contains("!") == true }.map(\.0)
            guard !setAside.isEmpty else { continue }
            released += setAside.count
            deletions.append(RedisCommand("HDEL", arguments: [key] + setAside))
        }
        for reply in try await redis.pipeline(deletions) {
            if case .error(let message) = reply { throw .server(message) }
        }
        logger.info("set-aside event ids released", metadata: ["released": "\(released)"])
        return released
    }

    private enum Attempt: Sendable {
        case done(FeatureApplyOutcome)
        /// Another member moved the applied offsets: re-read everything and compute again.
        case stale
        /// These events touch a key Redis refuses: compute again without them.
        case refuse([Int], RedisError)
    }

    /// What the read step found, by user slot and event-id entry of the batch's ``BatchNames``.
    private struct Reads: Sendable {
        /// Per user slot: its state (from the cache or read); nil if Redis refused to read it as ours.
        var boxes: [UserStateBox?] = []
        /// Per user slot: the state was read from Redis in this attempt (cached once written).
        var loaded: [Bool] = []
        /// User slots whose state Redis refuses to read as ours, with the reason.
        var refusedStates: [Int: RedisError] = [:]
        /// Per event-id entry: the record it was applied from (`<record>!<reason>` if it was set aside), if any.
        var appliedFrom: [String?] = []
        /// Stored popularity offsets by domain and partition field.
        var offsets: [EventDomain: [String: AppliedOffset]] = [:]
    }

    /// A partition's facts for the batch, looked up once: its topic id and log end, and the offset at or below
    /// which its records were counted in popularity.
    private struct PartitionFacts: Sendable {
        var topicID: String?
        var logEnd: Int64?
        var popularityApplied: Int64?
    }

    private func applyOnce(_ events: [FeatureEvent], now: Int64, logs: PartitionLogs, refused: [Int: String]) async throws(RedisError) -> Attempt {
        let started = ContinuousClock.now
        var statuses = [FeatureApplyOutcome.Status](repeating: .late, count: events.count)
        for index in events.indices where events[index].event.type.isCatalog { statuses[index] = .catalog }
        let names = BatchNames(events, oldestOnTime: now - configuration.horizonMilliseconds, keys: keys)
        let reads = try await read(names, now: now)
        let computeStarted = ContinuousClock.now

        // Popularity offsets: records at or below the trusted one were counted already.
        var facts: [PartitionFacts] = []
        var offsetsToStore: [EventDomain: [String: AppliedOffset]] = [:]
        for partition in names.partitions {
            let (domain, field) = (partition.domain, partition.field)
            let stored = reads.offsets[domain]?[field]
            let trust = logs.trusted(stored, field: field, topic: partition.topic)
            if stored != nil, trust.offset == nil {
                logger.warning(
                    "partition belongs to a recreated topic: counting from its offsets",
                    metadata: ["domain": "\(domain)", "partition": "\(field)", "applied": "\(stored!.stored)", "log_end": "\(logs.logEnds[field].map(String.init) ?? "-")"]
                )
            }
            if trust.idIsStale { staleTopicIDs.withLock { _ = $0.insert(partition.topic) } }
            facts.append(PartitionFacts(topicID: logs.topicIDs[partition.topic], logEnd: logs.logEnds[field], popularityApplied: trust.offset))
            offsetsToStore[domain, default: [:]][field] = AppliedOffset(offset: max(trust.offset ?? -1, partition.lastOffset), topicID: trust.topicIDToStore)
        }

        // Compute. First the event ids, in record order across all users: an id counts from one record
        // only, under whichever user. The users are split into shards for the next step.
        let shardCount = names.onTime.count >= Self.shardingThreshold ? Self.computeShards : 1
        let shards = (0..<shardCount).map { _ in UserStateShard() }
        for slot in names.stateKeys.indices { shards[UserStateShard.index(of: slot, count: shardCount)].slots.append(slot) }
        // Per event-id entry: the event that first claimed it in this batch (-1: none yet).
        var claimedBy = [Int](repeating: -1, count: names.eventIDs.count)
        var newIDs = [[NewEventID]](repeating: [], count: names.eventIDGroups.count)
        // Fields of `events[index]` are read where needed rather than the event copied out whole: a copy
        // retains and releases each of its strings and arrays, for every event of the batch.
        for index in names.onTime {
            let position = events[index].position
            let slot = names.stateSlot[index]
            if reads.boxes[slot] == nil {
                statuses[index] = .rejected(reason: "\(reads.refusedStates[slot]!)")
                continue
            }
            let entry = names.eventIDEntry[index]
            let stored = reads.appliedFrom[entry]
            let claimer = claimedBy[entry]
            if claimer >= 0 {
                if events[claimer].position != position {
                    statuses[index] = .duplicate
                    continue
                }
            } else if let stored, Self.recordOfStoredID(stored) != position.reference {
                statuses[index] = .duplicate
                continue
            }
            claimedBy[entry] = index
            if let stored, let bang = stored.firstIndex(of: "!") {
                // Set aside from this record before (in an earlier attempt or pass): still set aside, so a
                // retry dead-letters it again and a replay never applies it.
                statuses[index] = .rejected(reason: String(stored[stored.index(after: bang)...]))
                continue
            }
            let group = names.groupOfEventID[entry]
            if !refused.isEmpty, let reason = refused[index] {
                newIDs[group].append(NewEventID(event: index, setAsideReason: reason))
                statuses[index] = .rejected(reason: reason)
                continue
            }
            if stored == nil { newIDs[group].append(NewEventID(event: index, setAsideReason: nil)) }
            shards[UserStateShard.index(of: slot, count: shardCount)].indices.append(index)
        }
        // Then each user's events in record order, the shards at once on the cores.
        let partitionFacts = facts, boxes = reads.boxes
        await withTaskGroup(of: Void.self) { group in
            for shard in shards.dropFirst() {
                group.addTask { self.computeUsers(shard, events: events, names: names, boxes: boxes, facts: partitionFacts) }
            }
            computeUsers(shards[0], events: events, names: names, boxes: boxes, facts: partitionFacts)
        }
        var popularity: [EventDomain: PopularityCall] = [:]
        for shard in shards {
            for (index, status) in shard.statuses { statuses[index] = status }
            for (domain, call) in shard.popularity {
                if popularity[domain] == nil { popularity[domain] = call } else { popularity[domain]!.add(call) }
            }
        }
        let rejected = statuses.count { if case .rejected = $0 { true } else { false } }
        if rejected > 1, rejected * 2 > events.count, let error = reads.refusedStates.values.first {
            throw error
        }

        // Write: event ids (a replay must find them, and a set-aside event its reason) and popularity,
        // then the users.
        let popularityStarted = ContinuousClock.now
        let idCommands = eventIDCommands(names, newIDs, events: events)
        do {
            try await withThrowingTaskGroup(of: Attempt?.self) { group in
                // The ids and popularity are independent keys: written at once; both land before the users.
                group.addTask {
                    for reply in try await self.redis.pipelineAcrossConnections(idCommands) {
                        if case .error(let message) = reply { throw RedisError.server(message) }
                    }
                    return nil
                }
                for (domain, fields) in offsetsToStore {
                    let call = (popularity[domain] ?? PopularityCall(domain: domain, timeQuantum: popularityTimeQuantum)).expanded(keys: keys, configuration: configuration)
                    let expected = reads.offsets[domain] ?? [:]
                    group.addTask { try await self.writePopularity(domain: domain, call: call, expected: expected, store: fields) }
                }
                for try await result in group {
                    if let result {
                        group.cancelAll()
                        throw AttemptInterrupted(attempt: result)
                    }
                }
            }
        } catch let interrupted as AttemptInterrupted {
            // The cached states were changed in place and not written: read again next time.
            users.remove(names.stateKeys)
            return interrupted.attempt
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost("\(error)")
        }
        appliedOffsets.withLock { cache in
            for (domain, fields) in offsetsToStore {
                for (field, offset) in fields { cache[domain.rawValue + "|" + field] = offset }
            }
        }
        let usersStarted = ContinuousClock.now
        try await writeUsers(shards, names: names, boxes: reads.boxes, now: now)
        // States read in this attempt join the cache; cached ones were changed in place.
        users.insert(names.stateKeys.indices.lazy.filter { reads.loaded[$0] }.map { (key: names.stateKeys[$0], box: reads.boxes[$0]!) })
        let finished = ContinuousClock.now
        return .done(FeatureApplyOutcome(
            statuses: statuses, readDuration: computeStarted - started, computeDuration: popularityStarted - computeStarted,
            popularityStepDuration: usersStarted - popularityStarted, userStepDuration: finished - usersStarted
        ))
    }

    /// How many shards a batch's users are computed in: one per core (at most 8).
    static let computeShards = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))
    /// Fewer on-time events than this are computed in one shard: a task costs more than they do.
    static let shardingThreshold = 64

    /// Applies a shard's events to its users' states, in record order (see ``applyOnce``): a record at or
    /// below the user's applied offset of its partition is a replay; everything else changes the state.
    private func computeUsers(_ shard: UserStateShard, events: [FeatureEvent], names: BatchNames, boxes: [UserStateBox?], facts: [PartitionFacts]) {
        shard.statuses.reserveCapacity(shard.indices.count)
        for index in shard.indices {
            // Not nil: events of refused states were set aside before the shards were filled.
            let box = boxes[names.stateSlot[index]]!
            let partitionSlot = names.partitionSlot[index]
            let partition = names.partitions[partitionSlot]
            let fact = facts[partitionSlot]
            let trust = PartitionLogs.trusted(box.state.appliedOffsets[partition.field], topicID: fact.topicID, logEnd: fact.logEnd)
            if trust.idIsStale { staleTopicIDs.withLock { _ = $0.insert(partition.topic) } }
            let offset = events[index].position.offset
            if let done = trust.offset, offset <= done {
                shard.statuses.append((index, .replayed))
                continue
            }
            box.touched = true
            // In place: the box is the only holder of the state's collections.
            let effect = box.state.apply(events[index], partitionField: partition.field, topicID: trust.topicIDToStore, configuration: configuration)
            shard.statuses.append((index, .applied(weightUnits: effect.weightUnits)))
            if let done = fact.popularityApplied, offset <= done { continue }
            shard.popularity[partition.domain, default: PopularityCall(domain: partition.domain, timeQuantum: popularityTimeQuantum)].add(events[index], index: index, effect: effect)
        }
    }

    private struct AttemptInterrupted: Error {
        var attempt: Attempt
    }

    static func greatestCommonDivisor(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : greatestCommonDivisor(b, a % b) }

    /// The record part of a stored event-id value (`<record>` or `<record>!<reason>`).
    static func recordOfStoredID(_ stored: String) -> String {
        stored.firstIndex(of: "!").map { String(stored[..<$0]) } ?? stored
    }

    static func eventIDHour(_ event: Event) -> Int64 { eventIDHour(milliseconds: event.occurredAt.millisecondsSinceEpoch) }

    static func eventIDHour(milliseconds time: Int64) -> Int64 {
        time >= 0 ? time / eventIDBucketMilliseconds : (time - eventIDBucketMilliseconds + 1) / eventIDBucketMilliseconds
    }

    // MARK: - Read

    private func read(_ names: BatchNames, now: Int64) async throws(RedisError) -> Reads {
        var reads = Reads()
        // Cached states are used in place. An entry not written for half the idle expiry may have expired in
        // Redis meanwhile: it is read again.
        let idleMilliseconds = configuration.userIdleExpiry.milliseconds
        reads.boxes = users.boxes(names.stateKeys) { now - $0.writtenAt < idleMilliseconds / 2 }
        reads.loaded = [Bool](repeating: false, count: names.stateKeys.count)
        let missing = reads.boxes.indices.filter { reads.boxes[$0] == nil }
        var missingOffsets: [(EventDomain, [String])] = []
        appliedOffsets.withLock { cache in
            var absent: [EventDomain: [String]] = [:]
            for partition in names.partitions {
                if let offset = cache[partition.domain.rawValue + "|" + partition.field] {
                    reads.offsets[partition.domain, default: [:]][partition.field] = offset
                } else {
                    absent[partition.domain, default: []].append(partition.field)
                }
            }
            for (domain, fields) in absent.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { missingOffsets.append((domain, fields.sorted())) }
        }
        var commands = missing.map { RedisCommand("HGETALL", names.stateKeys[$0]) }
        for group in names.eventIDGroups {
            var command = RedisCommand("HMGET", group.key)
            for entry in group.entries { command.append(names.eventIDs[entry]) }
            commands.append(command)
        }
        for (domain, fields) in missingOffsets { commands.append(RedisCommand("HMGET", arguments: [keys.appliedOffsets(domain)] + fields)) }
        let replies = try await redis.pipelineAcrossConnections(commands)
        var reply = 0
        for slot in missing {
            defer { reply += 1 }
            if case .error(let message) = replies[reply] {
                let error = RedisError.server(message)
                guard error.refusesInput else { throw error }
                reads.refusedStates[slot] = error
            } else if var state = UserFeatureState(fields: replies[reply]) {
                state.writtenAt = now
                reads.boxes[slot] = UserStateBox(state)
                reads.loaded[slot] = true
            } else {
                reads.refusedStates[slot] = .server("BADSTATE the user state at \(names.stateKeys[slot]) cannot be read as layout v2")
            }
        }
        reads.appliedFrom = [String?](repeating: nil, count: names.eventIDs.count)
        for group in names.eventIDGroups {
            defer { reply += 1 }
            if case .error(let message) = replies[reply] { throw .server(message) }
            guard let values = replies[reply].array, values.count == group.entries.count else { throw .unexpectedReply("HMGET returned \(replies[reply])") }
            for (entry, value) in zip(group.entries, values) { reads.appliedFrom[entry] = value.string }
        }
        for (domain, fields) in missingOffsets {
            defer { reply += 1 }
            if case .error(let message) = replies[reply] { throw .server(message) }
            guard let values = replies[reply].array, values.count == fields.count else { throw .unexpectedReply("HMGET returned \(replies[reply])") }
            for (field, value) in zip(fields, values) {
                guard let text = value.string else { continue }
                guard let offset = AppliedOffset(stored: text) else { throw .unexpectedReply("applied offset \(text)") }
                reads.offsets[domain, default: [:]][field] = offset
            }
        }
        return reads
    }

    // MARK: - Write

    /// An event id to store: the event's, with the record it is applied from (``RecordPosition/reference``)
    /// and, if it is set aside, why (`<record>!<reason>`).
    private struct NewEventID {
        var event: Int
        var setAsideReason: String?
    }

    private func eventIDCommands(_ names: BatchNames, _ newIDs: [[NewEventID]], events: [FeatureEvent]) -> [RedisCommand] {
        var commands: [RedisCommand] = []
        for (group, ids) in zip(names.eventIDGroups, newIDs) where !ids.isEmpty {
            var command = RedisCommand("HSET", group.key)
            command.reserveCapacity(bytes: ids.count * 64, arguments: 2 * ids.count)
            for id in ids {
                command.append(events[id.event].event.eventID)
                let position = events[id.event].position
                command.appendArgument { buffer in
                    position.appendReference(to: &buffer)
                    if let reason = id.setAsideReason {
                        buffer.append(UInt8(ascii: "!"))
                        buffer.append(contentsOf: reason.utf8)
                    }
                }
            }
            commands.append(command)
            // The hour after the key's, plus the horizon: no event of that hour can still count.
            let expiry = ((group.hour + 1) * Self.eventIDBucketMilliseconds + configuration.horizonMilliseconds) / 1000 + Self.eventIDExpirySlackSeconds
            commands.append(RedisCommand("EXPIREAT", group.key, expiry))
        }
        return commands
    }

    /// One script call: nil when written, or what the attempt must do instead.
    private func writePopularity(
        domain: EventDomain, call: PopularityWrite, expected: [String: AppliedOffset], store: [String: AppliedOffset]
    ) async throws(RedisError) -> Attempt? {
        let fields = store.keys.sorted()
        var scriptKeys: [any RedisArgumentConvertible] = [keys.appliedOffsets(domain)]
        scriptKeys.append(contentsOf: call.bucketKeys)
        scriptKeys.append(contentsOf: call.tallyKeys)
        var arguments: [any RedisArgumentConvertible] = [fields.count]
        for field in fields {
            arguments.append(field)
            arguments.append(expected[field]?.stored ?? "")
            arguments.append(store[field]!.stored)
        }
        arguments.append(call.bucketKeys.count)
        for expiry in call.expiries { arguments.append(expiry) }
        arguments.append(call.increments.count)
        for group in call.increments {
            arguments.append(group.keyIndices.count)
            for keyIndex in group.keyIndices { arguments.append(keyIndex + 2) }
            arguments.append(group.members.count)
            arguments.reserveCapacity(arguments.count + 2 * group.members.count)
            for (item, units) in group.members {
                arguments.append(item)
                arguments.append(units)
            }
        }
        for (keyIndex, counts) in call.tallies.enumerated() {
            for (option, change) in counts.sorted(by: { $0.key < $1.key }) where change != 0 {
                arguments.append(keyIndex + 2 + call.bucketKeys.count)
                arguments.append(option)
                arguments.append(change)
            }
        }
        do {
            try await redis.evaluate(FeatureScripts.applyToPopularity, keys: scriptKeys, arguments: arguments)
            return nil
        } catch where error.serverErrorCode == "STALE" {
            return .stale
        } catch where error.serverErrorCode == "WRONGTYPE" {
            // `WRONGTYPE keys <indices into KEYS> (…)`: the events adding to those keys are set aside.
            guard case .server(let message) = error, let list = message.split(separator: " ").dropFirst(2).first else { throw error }
            var indices: Set<Int> = []
            for text in list.split(separator: ",") {
                guard let keyIndex = Int(text), keyIndex >= 2 else { throw error }
                let position = keyIndex - 2
                indices.formUnion(position < call.bucketKeys.count ? call.bucketContributors[position] : call.tallyContributors[position - call.bucketKeys.count])
            }
            return .refuse(indices.sorted(), error)
        }
    }

    /// Each changed user's fields, encoded by its shard's task (the shards at once on the cores), then
    /// written in one pipeline.
    private func writeUsers(_ shards: [UserStateShard], names: BatchNames, boxes: [UserStateBox?], now: Int64) async throws(RedisError) {
        let commands = await withTaskGroup(of: [RedisCommand].self) { group in
            for shard in shards.dropFirst() { group.addTask { self.userCommands(shard, names: names, boxes: boxes, now: now) } }
            var all = userCommands(shards[0], names: names, boxes: boxes, now: now)
            for await part in group { all.append(contentsOf: part) }
            return all
        }
        for reply in try await redis.pipelineAcrossConnections(commands) {
            switch reply {
            case .error(let message): throw .server(message)
            case .array(let results):
                for result in results { if case .error(let message) = result { throw .server(message) } }
            default: continue
            }
        }
    }

    /// The commands that write what changed of a shard's touched users (in no particular order: each
    /// user's are one unit).
    private func userCommands(_ shard: UserStateShard, names: BatchNames, boxes: [UserStateBox?], now: Int64) -> [RedisCommand] {
        let idleSeconds = max(1, configuration.userIdleExpiry.components.seconds)
        // Setting the expiry on every write would double the commands; a day's staleness in 90 is nothing.
        let refreshAfter = min(idleSeconds * 100, 86_400_000)
        var commands: [RedisCommand] = []
        commands.reserveCapacity(shard.slots.count + shard.slots.count / 8)
        for slot in shard.slots {
            guard let box = boxes[slot], box.touched else { continue }
            box.touched = false
            let key = names.stateKeys[slot]
            var set = RedisCommand("HSET", key)
            // Room for a typical user's fields at once, rather than growing the buffers a few times per user.
            set.reserveCapacity(bytes: 256, arguments: 20)
            let removed = box.state.takeChanges(into: &set)
            let setsFields = set.lengths.count > 2
            if removed.isEmpty {
                if setsFields { commands.append(set) }
            } else {
                // Atomic with the fields set (the applied offset among them): a crash between the two would
                // leave fields that the replay, seeing the offset, would never remove.
                commands.append(RedisCommand("MULTI"))
                commands.append(RedisCommand("HDEL", arguments: [key] + removed))
                if setsFields { commands.append(set) }
                commands.append(RedisCommand("EXEC"))
            }
            if now - box.state.expirySetAt >= refreshAfter {
                // A state holding votes never expires (as the tallies it counts in do not): forgotten, a
                // later vote of the same user on the same poll would count a second time.
                commands.append(box.state.votes.isEmpty ? RedisCommand("EXPIRE", key, idleSeconds) : RedisCommand("PERSIST", key))
                box.state.expirySetAt = now
            }
            box.state.writtenAt = now
        }
        return commands
    }
}

/// A domain's popularity and tally changes of one batch, summed as events are applied: events of the same
/// item within the same time quantum (the greatest common divisor of the window buckets, so that every
/// window puts them in the same bucket) add up, so key names are built per quantum and window, not per
/// event. Only all-items buckets are written: a genre's or category's popularity is the all-items
/// window filtered by the catalog when it is read (one member per item and window instead of one per item,
/// window and group, the larger part of the popularity write with a 60 000-item catalog).
struct PopularityCall: Sendable {
    struct Aggregate: Hashable {
        var item: String
        var quantum: Int64
    }

    let domain: EventDomain
    let timeQuantum: Int64
    var weights: [Aggregate: Int64] = [:]
    /// The events behind each quantum's weights: a quantum's events all add to the same bucket keys (one
    /// per window), so they are the events to set aside if Redis refuses one of those keys. Kept per
    /// quantum, not per item: a batch has a few quanta, and a list per item cost an allocation per event.
    var weightEvents: [Int64: [Int]] = [:]
    /// Poll → option → change of its count, and the events behind each poll's changes.
    var tallies: [String: [String: Int64]] = [:]
    var tallyEvents: [String: [Int]] = [:]

    init(domain: EventDomain, timeQuantum: Int64) {
        self.domain = domain
        self.timeQuantum = max(1, timeQuantum)
    }

    mutating func add(_ item: FeatureEvent, index: Int, effect: UserFeatureState.Effect) {
        let event = item.event
        if effect.weightUnits != 0 {
            let time = event.occurredAt.millisecondsSinceEpoch
            let quantum = time >= 0 ? time / timeQuantum : (time - timeQuantum + 1) / timeQuantum
            weights[Aggregate(item: event.subjectID, quantum: quantum), default: 0] += effect.weightUnits
            weightEvents[quantum, default: []].append(index)
        }
        if let tally = effect.tally {
            if let from = tally.from { tallies[tally.poll, default: [:]][from, default: 0] -= 1 }
            tallies[tally.poll, default: [:]][tally.to, default: 0] += 1
            tallyEvents[tally.poll, default: []].append(index)
        }
    }

    /// Adds another part's changes (a shard of the same batch's users): sums do not depend on the order.
    mutating func add(_ other: PopularityCall) {
        for (key, units) in other.weights { weights[key, default: 0] += units }
        for (quantum, indices) in other.weightEvents { weightEvents[quantum, default: []].append(contentsOf: indices) }
        for (poll, changes) in other.tallies {
            for (option, change) in changes { tallies[poll, default: [:]][option, default: 0] += change }
        }
        for (poll, indices) in other.tallyEvents { tallyEvents[poll, default: []].append(contentsOf: indices) }
    }

    /// The script call's keys and arguments: one group of increments per time quantum, naming each item
    /// once with the quantum's bucket key in every window.
    func expanded(keys: FeatureKeys, configuration: FeatureConfiguration) -> PopularityWrite {
        var write = PopularityWrite()
        var indexOfBucket: [String: Int] = [:]
        var byQuantum: [Int64: [(item: String, units: Int64)]] = [:]
        for (aggregate, units) in weights where units != 0 {
            byQuantum[aggregate.quantum, default: []].append((aggregate.item, units))
        }
        for quantum in byQuantum.keys.sorted() {
            let events = weightEvents[quantum] ?? []
            let time = quantum * timeQuantum
            var group = PopularityWrite.Increments(keyIndices: [], members: byQuantum[quantum]!.sorted { $0.item < $1.item })
            for window in configuration.windows {
                let bucket = window.bucket(containing: time)
                // The bucket is read until its end plus the window length; lateness covers slow readers.
                let expiry = ((bucket + 1) * window.bucketMilliseconds + window.lengthMilliseconds + configuration.allowedLateness.milliseconds) / 1000 + 1
                let key = keys.popularityBucket(domain, window: window.name, bucket: bucket)
                let index: Int
                if let known = indexOfBucket[key] {
                    index = known
                } else {
                    index = write.bucketKeys.count
                    indexOfBucket[key] = index
                    write.bucketKeys.append(key)
                    write.expiries.append(expiry)
                    write.bucketContributors.append([])
                }
                group.keyIndices.append(index)
                write.bucketContributors[index].append(contentsOf: events)
            }
            if !group.members.isEmpty { write.increments.append(group) }
        }
        for poll in tallies.keys.sorted() {
            write.tallyKeys.append(keys.pollTally(poll))
            write.tallies.append(tallies[poll]!)
            write.tallyContributors.append(tallyEvents[poll] ?? [])
        }
        return write
    }
}

/// One popularity script call: bucket keys with their expiries and increments, tally keys with their
/// changes, and the events behind each key (set aside if Redis refuses the key).
struct PopularityWrite: Sendable {
    /// Weight units added to each of `keyIndices` (into `bucketKeys`): one time quantum's items.
    struct Increments: Sendable {
        var keyIndices: [Int]
        var members: [(item: String, units: Int64)]
    }

    var bucketKeys: [String] = []
    var expiries: [Int64] = []
    var increments: [Increments] = []
    var bucketContributors: [[Int]] = []
    var tallyKeys: [String] = []
    var tallies: [[String: Int64]] = []
    var tallyContributors: [[Int]] = []
}
