import Events
import Foundation
import Kafka
import Redis
import StackTestSupport
import Testing

/// The processor with `redis.cluster = true` against a real Redis Cluster of three masters
/// (``PrivateRedisCluster``), beside the test stack's broker and PostgreSQL.
@Suite("Stream processor on a real 3-master Redis Cluster", .serialized)
struct StreamProcessorClusterTests {
    @Test("30k events applied on 3 masters while 2 000 slots move between them: the same Redis state, key by key, as a clean pass on one server; a replay by a second group changes nothing")
    func processorOnAClusterDuringAReshard() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let fixture = try await ProcessorFixture(redis: cluster.configuration(connections: 2))
        let redis = RedisClient(configuration: fixture.configuration.redis)
        let now = wallNow()
        let catalog = SyntheticEvents.catalog(movies: 50, polls: 20, now: now)
        var ends = try await fixture.produce(catalog)
        _ = try await fixture.runUntilCommitted(ends)
        ends.merge(try await fixture.produce(SyntheticEvents.interactions(count: 30_000, now: now, seed: 13))) { max($0, $1) }

        // Slots move while the processor consumes: the reshard starts once it has committed its first
        // interactions (joining the group takes a few seconds).
        let running = try await fixture.start()
        let catalogRecords = Int64(catalog.count)
        let deadline = ContinuousClock.now + .seconds(60)
        var committedAtReshardStart = try await fixture.committedRecords(Array(ends.keys))
        while committedAtReshardStart < catalogRecords + 500, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            committedAtReshardStart = try await fixture.committedRecords(Array(ends.keys))
        }
        let source = cluster.masterPorts[0], target = cluster.masterPorts[2]
        let reshardTook = try await cluster.reshard(slots: 2000, from: source, to: target)
        let committedAtReshardEnd = try await fixture.committedRecords(Array(ends.keys))
        let reached = try await fixture.waitForCommitted(ends, timeout: .seconds(90))
        await running.stop()
        #expect(reached)
        let total = ends.values.reduce(0, +)
        print("processor on a cluster: 2000 slots moved in \(reshardTook); \(committedAtReshardStart) of \(total) records committed when it started, \(committedAtReshardEnd) when it ended")
        // The reshard must overlap the run, or this test proves nothing about it.
        #expect(committedAtReshardStart < total, "the processor had committed everything before the reshard started")
        let onCluster = try await fixture.redisSnapshot(redis)
        #expect(onCluster.count > 500)

        // A second group replays everything on the cluster: nothing changes.
        var replay = fixture
        replay.configuration.consumer.groupID += "-replay"
        _ = try await replay.runUntilCommitted(ends)
        let again = try await fixture.redisSnapshot(redis)
        #expect(Self.differing(again, onCluster).isEmpty, "after the replay: \(Self.differing(again, onCluster).prefix(5))")

        // A clean pass on one server (the test stack's Redis) ends in the same state.
        let single = RedisClient(configuration: try TestStack.redisConfiguration())
        let clean = try await fixture.secondPass(catalog: catalog, redis: try TestStack.redisConfiguration())
        _ = try await clean.runUntilCommitted(ends)
        let expected = try await clean.redisSnapshot(single)
        let differing = Self.differing(onCluster, expected)
        #expect(differing.isEmpty, "\(differing.count) keys differ (cluster vs one server): \(differing.prefix(5).map { "\($0): \(onCluster[$0]?.prefix(200) ?? "absent") vs \(expected[$0]?.prefix(200) ?? "absent")" })")

        try await clean.cleanUp(single)
        try await fixture.cleanUp(redis)
        await single.shutdown()
        await redis.shutdown()
    }

    static func differing(_ left: [String: String], _ right: [String: String]) -> [String] {
        Set(left.keys).union(right.keys).filter { left[$0] != right[$0] }.sorted()
    }
}
