import Events
import Features
import Foundation
import Redis
import SyntheticData

// feature-memory: applies `users` × `per-user` interactions of the realistic mix (over the last hour)
// through the feature writer, then sums MEMORY USAGE over the keys by kind. Prints bytes per user (one
// state hash per domain: history, seen-set, affinities, votes), per event id (each kept for the largest
// window + lateness), per popularity entry (an item in one bucket of one window) and per poll's tally.

func featureMemory(_ arguments: FeatureMemoryBenchmark) async throws {
    let redis = RedisClient(configuration: RedisConfiguration(host: arguments.host, port: arguments.port))
    let users = arguments.users
    let perUser = arguments.perUser
    var configuration = FeatureConfiguration()
    configuration.keyPrefix = "memory\(Int(Date().timeIntervalSince1970)):v2"
    let writer = FeatureWriter(configuration: configuration, redis: redis)
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let groups = syntheticCatalogGroups(now: now)
    let events = SyntheticEvents.interactions(
        count: users * perUser, users: users, movies: 1682, polls: 707, now: now, span: 3_600_000, mix: .realistic, seed: 42
    )
    for start in stride(from: 0, to: events.count, by: 2000) {
        let batch = events[start..<min(events.count, start + 2000)].enumerated().map { offset, event in
            FeatureEvent(event: event, position: RecordPosition(topic: "memory", partition: 0, offset: Int64(start + offset)), groups: groups[event.subjectID] ?? [])
        }
        _ = try await writer.apply(batch, now: now)
    }

    var keys: [String] = []
    var cursor = "0"
    repeat {
        let reply = try await redis.send(RedisCommand("SCAN", cursor, "MATCH", configuration.keyPrefix + ":*", "COUNT", 5000))
        cursor = reply.array?[0].string ?? "0"
        keys.append(contentsOf: reply.array?[1].array?.compactMap(\.string) ?? [])
    } while cursor != "0"
    var bytes: [String: Int64] = [:]
    var counts: [String: Int] = [:]
    for start in stride(from: 0, to: keys.count, by: 1000) {
        let slice = Array(keys[start..<min(keys.count, start + 1000)])
        let replies = try await redis.pipeline(slice.map { RedisCommand("MEMORY", "USAGE", $0, "SAMPLES", 0) })
        for (key, reply) in zip(slice, replies) {
            let kind: String
            if key.contains("{ids:") { kind = "ids" }
            else if key.contains("{u:") { kind = "user" }
            else if key.contains(":tally:") { kind = "poll" }
            else if key.contains("{pop:") { kind = key.hasSuffix(":offsets") ? "offsets" : "popularity" }
            else { kind = "other" }
            bytes[kind, default: 0] += reply.int ?? 0
            counts[kind, default: 0] += 1
        }
    }
    var entries = 0
    var ids = 0
    for key in keys where key.contains("{ids:") {
        ids += Int(try await redis.send(RedisCommand("HLEN", key)).int ?? 0)
    }
    for key in keys where key.contains("{pop:") && !key.hasSuffix(":offsets") && !key.contains(":tally:") {
        entries += Int(try await redis.send(RedisCommand("ZCARD", key)).int ?? 0)
    }
    let activeUsers = Set(events.map(\.userID)).count
    let polls = Set(events.filter { $0.type == .pollVote }.map(\.subjectID)).count
    print("result name=feature-memory events=\(events.count) users=\(activeUsers) keys=\(keys.count)")
    print("| what | keys | bytes | per |")
    print("| --- | ---: | ---: | --- |")
    print("| user state (one hash per domain: history, seen, affinities, votes) | \(counts["user"] ?? 0) | \(bytes["user"] ?? 0) | \((bytes["user"] ?? 0) / Int64(max(1, activeUsers))) B per user at \(perUser) events |")
    print("| event ids (hash per hour) | \(counts["ids"] ?? 0) | \(bytes["ids"] ?? 0) | \((bytes["ids"] ?? 0) / Int64(max(1, ids))) B per event, kept \(configuration.horizonMilliseconds / 3_600_000) h |")
    print("| popularity buckets (all + per genre/category, 3 windows) | \(counts["popularity"] ?? 0) | \(bytes["popularity"] ?? 0) | \((bytes["popularity"] ?? 0) / Int64(max(1, entries))) B per item-bucket entry (\(entries) entries) |")
    print("| poll tallies | \(counts["poll"] ?? 0) | \(bytes["poll"] ?? 0) | \((bytes["poll"] ?? 0) / Int64(max(1, polls))) B per voted poll |")
    // Leave nothing behind.
    for start in stride(from: 0, to: keys.count, by: 1000) {
        _ = try await redis.send(RedisCommand("DEL", arguments: Array(keys[start..<min(keys.count, start + 1000)])))
    }
    await redis.shutdown()
}

/// The genres of the benchmarks' MovieLens-sized synthetic catalog (1682 movies), and the category of its
/// 707 polls, by item id: what the processor would look up in the catalog.
func syntheticCatalogGroups(now: Int64, movies: Int = 1682) -> [String: [String]] {
    var groups: [String: [String]] = [:]
    for event in SyntheticEvents.catalog(movies: movies, polls: 707, now: now) {
        switch event.payload {
        case .movieAdded(let movie): groups[event.subjectID] = movie.genres
        case .pollCreated(let poll): groups[event.subjectID] = [poll.category]
        default: break
        }
    }
    return groups
}
