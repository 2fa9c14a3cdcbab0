/// Which master serves each of a Redis Cluster's 16 384 hash slots, as `CLUSTER SLOTS` reported it.
struct RedisSlotMap: Sendable {
    /// The masters, in the order `CLUSTER SLOTS` first named them.
    let masters: [RedisNodeAddress]
    /// Per slot, the index of its master in `masters`, or `unassigned`.
    private let ownerOfSlot: [UInt16]
    private static let unassigned = UInt16.max

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], replica…], …]`.
    init(clusterSlots reply: RedisValue, defaultHost: String) throws(RedisError) {
        guard let ranges = reply.array else { throw .unexpectedReply("CLUSTER SLOTS returned \(reply)") }
        var masters: [RedisNodeAddress] = []
        var owners = [UInt16](repeating: Self.unassigned, count: RedisHashSlot.count)
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                let master = parts[2].array, master.count >= 2, let host = master[0].string, let port = master[1].int,
                0 <= start, start <= end, end < RedisHashSlot.count
            else { throw .unexpectedReply("CLUSTER SLOTS entry \(range)") }
            let address = RedisNodeAddress(host: host.isEmpty || host == "?" ? defaultHost : host, port: Int(port))
            let index: Int
            if let known = masters.firstIndex(of: address) {
                index = known
            } else {
                index = masters.count
                masters.append(address)
            }
            for slot in Int(start)...Int(end) { owners[slot] = UInt16(index) }
        }
        guard !masters.isEmpty else { throw .unexpectedReply("CLUSTER SLOTS named no node: not a cluster, or no slot assigned") }
        self.masters = masters
        ownerOfSlot = owners
    }

    /// The master serving `slot`, or nil while the slot is unassigned.
    func master(of slot: Int) -> RedisNodeAddress? {
        let index = ownerOfSlot[slot]
        return index == Self.unassigned ? nil : masters[Int(index)]
    }

    /// Slots each master serves, for logs and tests.
    func slotCounts() -> [RedisNodeAddress: Int] {
        var counts: [RedisNodeAddress: Int] = [:]
        for index in ownerOfSlot where index != Self.unassigned { counts[masters[Int(index)], default: 0] += 1 }
        return counts
    }
}
