import Events

/// A batch's users, event ids and partitions, each named once: the feature writer then refers to them by
/// slot (an index into these arrays), so a key string is built, and hashed, once per distinct user, id or
/// partition of the batch rather than at every step of every event.
struct BatchNames: Sendable {
    /// A partition of the batch's interactions (late ones included: their partitions advance too), per domain.
    struct Partition: Sendable {
        var domain: EventDomain
        var topic: String
        var partition: Int32
        /// ``RecordPosition/partitionField``.
        var field: String
        /// The batch's last offset in it.
        var lastOffset: Int64
    }

    /// The event ids of one domain and hour (``FeatureKeys/eventIDs(_:hour:)``).
    struct EventIDGroup: Sendable {
        var domain: EventDomain
        var hour: Int64
        var key: String
        /// Entries (indices into ``BatchNames/eventIDs``) of this group, in first-seen order.
        var entries: [Int] = []
    }

    private struct UserInDomain: Hashable {
        var user: String
        var domain: EventDomain
    }

    /// Indices of the events that are neither catalog events nor late, in record order.
    private(set) var onTime: [Int] = []
    /// Per event: its slot in ``stateKeys`` (-1: catalog or late).
    private(set) var stateSlot: [Int]
    /// The state key (``FeatureKeys/userState(_:_:)``) of each user slot.
    private(set) var stateKeys: [String] = []
    /// Per event: its slot in ``partitions`` (-1: catalog).
    private(set) var partitionSlot: [Int]
    private(set) var partitions: [Partition] = []
    /// Per event: its entry in ``eventIDs`` (-1: catalog or late).
    private(set) var eventIDEntry: [Int]
    /// The distinct event ids (per domain and hour) of the on-time events.
    private(set) var eventIDs: [String] = []
    private(set) var eventIDGroups: [EventIDGroup] = []
    /// The group of each entry of ``eventIDs``.
    private(set) var groupOfEventID: [Int] = []

    init(_ events: [FeatureEvent], oldestOnTime: Int64, keys: FeatureKeys) {
        stateSlot = Array(repeating: -1, count: events.count)
        partitionSlot = Array(repeating: -1, count: events.count)
        eventIDEntry = Array(repeating: -1, count: events.count)
        var slotOfUser: [UserInDomain: Int] = [:]
        var entryOfID: [[String: Int]] = []
        var lastPartition = -1
        // The events' fields are read in place: copying an event out retains and releases each of its strings.
        for index in events.indices where !events[index].event.type.isCatalog {
            let position = events[index].position
            let domain = events[index].event.domain
            let time = events[index].event.occurredAt.millisecondsSinceEpoch
            // A batch has a few partitions, and runs of records of the same one.
            if lastPartition < 0 || !Self.matches(partitions[lastPartition], domain, position) {
                if let known = partitions.firstIndex(where: { Self.matches($0, domain, position) }) {
                    lastPartition = known
                } else {
                    lastPartition = partitions.count
                    partitions.append(Partition(
                        domain: domain, topic: position.topic, partition: position.partition, field: position.partitionField, lastOffset: position.offset
                    ))
                }
            }
            partitionSlot[index] = lastPartition
            partitions[lastPartition].lastOffset = max(partitions[lastPartition].lastOffset, position.offset)
            guard time >= oldestOnTime else { continue }
            onTime.append(index)

            let user = UserInDomain(user: events[index].event.userID, domain: domain)
            if let slot = slotOfUser[user] {
                stateSlot[index] = slot
            } else {
                slotOfUser[user] = stateKeys.count
                stateSlot[index] = stateKeys.count
                stateKeys.append(keys.userState(events[index].event.userID, domain))
            }

            let hour = FeatureWriter.eventIDHour(milliseconds: time)
            let group: Int
            if let known = eventIDGroups.firstIndex(where: { $0.hour == hour && $0.domain == domain }) {
                group = known
            } else {
                group = eventIDGroups.count
                eventIDGroups.append(EventIDGroup(domain: domain, hour: hour, key: keys.eventIDs(domain, hour: hour)))
                entryOfID.append([:])
            }
            let eventID = events[index].event.eventID
            if let entry = entryOfID[group][eventID] {
                eventIDEntry[index] = entry
            } else {
                let entry = eventIDs.count
                entryOfID[group][eventID] = entry
                eventIDEntry[index] = entry
                eventIDs.append(eventID)
                groupOfEventID.append(group)
                eventIDGroups[group].entries.append(entry)
            }
        }
    }

    private static func matches(_ partition: Partition, _ domain: EventDomain, _ position: RecordPosition) -> Bool {
        partition.partition == position.partition && partition.domain == domain && partition.topic == position.topic
    }
}
