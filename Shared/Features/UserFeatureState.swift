import Events
import Redis

/// One user's features in one domain, as the processor keeps them between batches and as one Redis hash
/// (``FeatureKeys/userState(_:_:)``) stores them. Events are applied to it in memory, one at a time and
/// in record order, and the fields they changed are written once per batch.
///
/// Fields of the hash:
/// - `o:<topic>/<partition>` → `<offset>[@<topic id>]`: the last record of that partition applied here.
///   A record at or below it is a replay. Kafka's key is the user, so one partition holds all of a user's
///   records and its owner is the only writer of this hash.
/// - `n` → how many history entries were ever written; `h:<n mod history_length>` → the entry
///   `time|type|item|weight units|event_id` (a ring: the newest `history_length` applied are kept).
/// - `s:<item>` → last interaction ms: the seen-set (cut back to `seen_limit`, oldest first, when it
///   grows past it by ``FeatureConfiguration/seenTrimSlack``).
/// - `a:<genre or category>` → summed weight units (removed when back at 0).
/// - `r` → `<half-star sum>|<count>` of the user's ratings (movies).
/// - `t` → the newest `occurred_at` ms applied.
/// - `v:<poll>` → `occurred_at ms|event_id|option` of the user's vote that counts (polls; the option last,
///   so it may hold `|`).
struct UserFeatureState: Sendable {
    var appliedOffsets: [String: AppliedOffset] = [:]
    var historyCount: Int64 = 0
    var ratingHalfStars: Int64 = 0
    var ratingCount: Int64 = 0
    var affinities: [String: Int64] = [:]
    var seen: [String: Int64] = [:]
    var votes: [String: StoredVote] = [:]
    var lastActive: Int64?
    /// Wall-clock ms when the key's expiry was last set by this process (0: not since it was read).
    var expirySetAt: Int64 = 0
    /// Wall-clock ms when this state was last read from or written to Redis.
    var writtenAt: Int64 = 0

    /// What changed since the last write (``takeChanges(into:)``): the fields' values are built once per
    /// batch from the state, not once per event. Lists rather than sets: a user's batch changes a few
    /// fields, and looking along a short list costs less than hashing (the seen items are distinct by
    /// construction but for an item seen twice in one batch, which is then written twice, the newest last).
    private var changedHistory: [HistoryEntry] = []
    private var changedSeen: [(item: String, time: Int64)] = []
    private var changedAffinities: [String] = []
    private var changedOffsets: [String] = []
    private var changedVotes: Set<String> = []
    private var countsChanged = false
    /// Fields to delete: items cut from the seen-set, affinities back at 0.
    private var removed: Set<String> = []

    /// One history entry to write: `h:<slot>` → `time|type|item|weight units|event_id`, formatted when written.
    private struct HistoryEntry {
        var slot: Int64
        var time: Int64
        var type: EventType
        var item: String
        var units: Int64
        var eventID: String
    }

    struct StoredVote: Sendable, Hashable {
        var time: Int64
        var eventID: String
        var option: String

        init(time: Int64, eventID: String, option: String) {
            self.time = time
            self.eventID = eventID
            self.option = option
        }

        /// `time|event id|option`; nil if the value is not one.
        init?(stored: String) {
            guard let first = stored.firstIndex(of: "|"), let time = Int64(stored[..<first]) else { return nil }
            let rest = stored[stored.index(after: first)...]
            guard let second = rest.firstIndex(of: "|") else { return nil }
            self.time = time
            eventID = String(rest[..<second])
            option = String(rest[rest.index(after: second)...])
        }

        var stored: String { "\(time)|\(eventID)|\(option)" }

        /// Last writer wins by (occurred_at, event id).
        func losesTo(time other: Int64, eventID otherID: String) -> Bool { other > time || (other == time && otherID > eventID) }
    }

    /// What applying one event did beyond the user's own state.
    struct Effect: Sendable {
        var weightUnits: Int64
        /// For a vote that changed what counts: the option it no longer counts for (if any) and the one it does.
        var tally: (poll: String, from: String?, to: String)?
    }

    init() {}

    /// Reads the hash as `HGETALL` returned it; nil if a field cannot be read (the key is not ours).
    init?(fields reply: RedisValue) {
        guard let flat = reply.array, flat.count % 2 == 0 else { return nil }
        var index = 0
        while index < flat.count {
            guard let field = flat[index].string, let value = flat[index + 1].string else { return nil }
            index += 2
            guard let kind = field.first else { return nil }
            let name = field.count > 2 ? String(field.dropFirst(2)) : ""
            switch kind {
            case "h": continue  // history: read by the API only
            case "s": guard let time = Int64(value) else { return nil }; seen[name] = time
            case "a": guard let units = Int64(value) else { return nil }; affinities[name] = units
            case "o": guard let offset = AppliedOffset(stored: value) else { return nil }; appliedOffsets[name] = offset
            case "v": guard let vote = StoredVote(stored: value) else { return nil }; votes[name] = vote
            case "n": guard let count = Int64(value) else { return nil }; historyCount = count
            case "t": guard let time = Int64(value) else { return nil }; lastActive = time
            case "r":
                let parts = value.split(separator: "|")
                guard parts.count == 2, let sum = Int64(parts[0]), let count = Int64(parts[1]) else { return nil }
                (ratingHalfStars, ratingCount) = (sum, count)
            default: return nil
            }
        }
    }

    /// Applies one event (not late, not a duplicate, not yet applied here) and returns its weight and effect.
    mutating func apply(_ item: FeatureEvent, partitionField: String, topicID: String?, configuration: FeatureConfiguration) -> Effect {
        let event = item.event
        let weights = configuration.weights
        let time = event.occurredAt.millisecondsSinceEpoch
        let units: Int64
        if case .rating(let value) = event.payload {
            let halfStars = Int64((value * 2).rounded())
            // The mean of earlier ratings shrunk towards the prior (the same arithmetic as the scripts of layout v1).
            let mean = (Double(ratingHalfStars) / 2 + weights.ratingPriorMean * weights.ratingPriorStrength) / (Double(ratingCount) + weights.ratingPriorStrength)
            units = Int64(((Double(halfStars) / 2 - mean) * EventWeights.unitsPerWeight + 0.5).rounded(.down))
            ratingHalfStars += halfStars
            ratingCount += 1
        } else {
            units = weights.units(for: event.type) ?? 0
        }

        let historyLength = max(1, configuration.historyLength)
        changedHistory.append(HistoryEntry(
            slot: historyCount % Int64(historyLength), time: time, type: event.type, item: event.subjectID, units: units, eventID: event.eventID
        ))
        // Entries past the ring's length in one batch overwrite the oldest of it: only the newest are written.
        if changedHistory.count > 2 * historyLength { changedHistory.removeFirst(changedHistory.count - historyLength) }
        historyCount += 1
        countsChanged = true

        if let previous = seen[event.subjectID] {
            if time > previous {
                seen[event.subjectID] = time
                changedSeen.append((event.subjectID, time))
            }
        } else {
            seen[event.subjectID] = time
            changedSeen.append((event.subjectID, time))
            if !removed.isEmpty { removed.remove("s:" + event.subjectID) }
            if seen.count > configuration.seenLimit + configuration.seenTrimSlack { trimSeen(to: configuration.seenLimit) }
        }

        if units != 0 {
            for group in item.groups {
                let total = (affinities[group] ?? 0) + units
                affinities[group] = total == 0 ? nil : total
                if !changedAffinities.contains(group) { changedAffinities.append(group) }
            }
        }

        if time > (lastActive ?? .min) { lastActive = time }
        appliedOffsets[partitionField] = AppliedOffset(offset: item.position.offset, topicID: topicID)
        if !changedOffsets.contains(partitionField) { changedOffsets.append(partitionField) }

        var effect = Effect(weightUnits: units)
        if case .vote(let option) = event.payload {
            let previous = votes[event.subjectID]
            if previous == nil || previous!.losesTo(time: time, eventID: event.eventID) {
                votes[event.subjectID] = StoredVote(time: time, eventID: event.eventID, option: option)
                changedVotes.insert(event.subjectID)
                if previous?.option != option { effect.tally = (event.subjectID, previous?.option, option) }
            }
        }
        return effect
    }

    /// Keeps the `limit` most recently seen items (ties: the larger item id stays, as a sorted set's rank order).
    private mutating func trimSeen(to limit: Int) {
        let oldest = seen.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }.prefix(seen.count - limit)
        for (item, _) in oldest {
            seen[item] = nil
            removed.insert("s:" + item)
        }
        changedSeen.removeAll { seen[$0.item] == nil }
    }

    /// Appends the fields changed since the last call to `command` (an `HSET` of this state's key) and
    /// returns the fields to delete, sorted; afterwards nothing counts as changed. Field names and values are
    /// written straight into the command (``RedisCommand/appendArgument(_:)``): no string is made for them.
    mutating func takeChanges(into command: inout RedisCommand) -> [String] {
        var removed = removed
        if countsChanged {
            command.append("n")
            command.append(historyCount)
            if ratingCount > 0 {
                command.append("r")
                command.appendArgument { [ratingHalfStars, ratingCount] buffer in
                    ratingHalfStars.appendRedisArgument(to: &buffer)
                    buffer.append(UInt8(ascii: "|"))
                    ratingCount.appendRedisArgument(to: &buffer)
                }
            }
            if let lastActive {
                command.append("t")
                command.append(lastActive)
            }
        }
        for entry in changedHistory {
            command.appendArgument { buffer in Self.appendField("h", entry.slot, to: &buffer) }
            command.appendArgument { buffer in
                entry.time.appendRedisArgument(to: &buffer)
                buffer.append(UInt8(ascii: "|"))
                buffer.append(contentsOf: entry.type.rawValue.utf8)
                buffer.append(UInt8(ascii: "|"))
                buffer.append(contentsOf: entry.item.utf8)
                buffer.append(UInt8(ascii: "|"))
                entry.units.appendRedisArgument(to: &buffer)
                buffer.append(UInt8(ascii: "|"))
                buffer.append(contentsOf: entry.eventID.utf8)
            }
        }
        for (item, time) in changedSeen {
            command.appendArgument { buffer in Self.appendField("s", item, to: &buffer) }
            command.append(time)
        }
        for group in changedAffinities {
            if let units = affinities[group] {
                command.appendArgument { buffer in Self.appendField("a", group, to: &buffer) }
                command.append(units)
            } else {
                removed.insert("a:" + group)
            }
        }
        for field in changedOffsets {
            command.appendArgument { buffer in Self.appendField("o", field, to: &buffer) }
            let offset = appliedOffsets[field]!
            command.appendArgument { buffer in
                offset.offset.appendRedisArgument(to: &buffer)
                if let topicID = offset.topicID {
                    buffer.append(UInt8(ascii: "@"))
                    buffer.append(contentsOf: topicID.utf8)
                }
            }
        }
        for poll in changedVotes {
            command.append("v:" + poll)
            command.append(votes[poll]!.stored)
        }
        changedHistory = []
        changedSeen = []
        changedAffinities = []
        changedOffsets = []
        changedVotes = []
        countsChanged = false
        self.removed = []
        return removed.sorted()
    }

    /// `<kind>:<name>`, the name of a field of the hash.
    @inline(__always)
    private static func appendField(_ kind: Unicode.Scalar, _ name: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: kind))
        buffer.append(UInt8(ascii: ":"))
        buffer.append(contentsOf: name.utf8)
    }

    @inline(__always)
    private static func appendField(_ kind: Unicode.Scalar, _ number: Int64, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: kind))
        buffer.append(UInt8(ascii: ":"))
        number.appendRedisArgument(to: &buffer)
    }
}
