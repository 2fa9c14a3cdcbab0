import Redis

/// Every key under a prefix with its content in a canonical text form (hash fields and set members
/// sorted; sorted sets with scores in order), without TTLs: two snapshots are equal exactly when the
/// data is.
public enum RedisSnapshot {
    /// - Parameter omittingKeysExpiringBefore: Unix milliseconds. Keys set to expire before then are left
    ///   out. Snapshots taken at different times compare equal only if no key expired in between: window
    ///   buckets expire at fixed instants, and one of them can fall between a run and its replay. Pass the
    ///   same instant, later than the last snapshot, to every snapshot of a comparison: a key is then in
    ///   all of them or in none.
    public static func take(_ redis: RedisClient, prefix: String, omittingKeysExpiringBefore cutoff: Int64? = nil) async throws -> [String: String] {
        var keys: [String] = []
        // On a cluster every master holds its own slots' keys: each is scanned.
        for master in try await redis.masters() {
            var cursor = "0"
            repeat {
                let reply = try await redis.send(RedisCommand("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000), toMaster: master)
                guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let found = parts[1].array else {
                    throw RedisError.unexpectedReply("SCAN \(reply)")
                }
                cursor = next
                keys.append(contentsOf: found.compactMap(\.string))
            } while cursor != "0"
        }
        var unique = Array(Set(keys))
        if let cutoff {
            // PEXPIRETIME: -1 no expiry, -2 gone already.
            let expiries = try await redis.pipeline(unique.map { RedisCommand("PEXPIRETIME", $0) }).map { reply throws in
                // An error reply (an old server, an ACL) must fail the snapshot, not empty it.
                guard let expiry = reply.int else { throw RedisError.unexpectedReply("PEXPIRETIME \(reply)") }
                return expiry
            }
            unique = zip(unique, expiries).filter { $0.1 == -1 || $0.1 >= cutoff }.map(\.0)
        }
        let types = try await redis.pipeline(unique.map { RedisCommand("TYPE", $0) }).map { $0.string ?? "?" }
        let reads = zip(unique, types).map { key, type in
            switch type {
            case "string": RedisCommand("GET", key)
            case "hash": RedisCommand("HGETALL", key)
            case "zset": RedisCommand("ZRANGE", key, 0, -1, "WITHSCORES")
            case "set": RedisCommand("SMEMBERS", key)
            default: RedisCommand("LRANGE", key, 0, -1)
            }
        }
        let contents = try await redis.pipeline(reads)
        var snapshot: [String: String] = [:]
        for ((key, type), reply) in zip(zip(unique, types), contents) {
            let flat = reply.array ?? []
            let content: String
            switch type {
            case "string": content = reply.string ?? ""
            case "hash": content = stride(from: 0, to: flat.count, by: 2).map { "\(flat[$0].string ?? "")=\(flat[$0 + 1].string ?? "")" }.sorted().joined(separator: ",")
            case "zset": content = stride(from: 0, to: flat.count, by: 2).map { "\(flat[$0].string ?? "")@\(flat[$0 + 1].string ?? "")" }.joined(separator: ",")
            case "set": content = flat.compactMap(\.string).sorted().joined(separator: ",")
            default: content = flat.compactMap(\.string).joined(separator: ",")
            }
            snapshot[key] = "\(type):\(content)"
        }
        return snapshot
    }

    /// Deletes every key under the prefix (test cleanup).
    public static func delete(_ redis: RedisClient, prefix: String) async throws {
        let keys = Array(try await take(redis, prefix: prefix).keys)
        // One DEL per key: on a cluster the keys are in many slots (a DEL of several would be CROSSSLOT).
        for start in stride(from: 0, to: keys.count, by: 500) {
            for reply in try await redis.pipeline(keys[start..<min(keys.count, start + 500)].map { RedisCommand("DEL", $0) }) {
                if case .error(let message) = reply { throw RedisError.server(message) }
            }
        }
    }
}

@_exported import SyntheticData
