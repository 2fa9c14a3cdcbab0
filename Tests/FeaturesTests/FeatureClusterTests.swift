import Events
import Features
import Foundation
import Redis
import StackTestSupport
import Testing

/// The feature writer and readers against a real Redis Cluster of three masters (``PrivateRedisCluster``),
/// compared key by key with the same events applied to one server (the test stack's).
@Suite("Features on a real 3-master Redis Cluster")
struct FeatureClusterTests {
    @Test("applied on 3 masters while every slot of one master (the popularity slot's) moves to another: the same state as on one server, a replay counts nothing, the readers answer alike")
    func writerAndReadersDuringALiveReshard() async throws {
        let cluster = try await PrivateRedisCluster.start()
        defer { try? cluster.remove() }
        let now = wallNow()
        let events = FeatureWriterTests.mixedEvents(count: 6000, now: now, seed: 23)
        let batches = stride(from: 0, to: events.count, by: 250).map { Array(events[$0..<min(events.count, $0 + 250)]) }
        let redis = RedisClient(configuration: cluster.configuration(connections: 2))
        var configuration = FeatureConfiguration()
        configuration.keyPrefix = TestStack.uniqueName("cluster3") + ":v2"
        let writer = FeatureWriter(configuration: configuration, redis: redis)

        // Every slot of the master holding the movie domain's popularity, event ids and offsets goes to the
        // next master, starting after the first batches and going on while batches are applied.
        let source = try await cluster.owner(of: RedisHashSlot.slot(of: FeatureKeys(prefix: configuration.keyPrefix).appliedOffsets(.movie)))
        let target = cluster.masterPorts.first { $0 != source }!
        let moving = try await cluster.slotCount(port: source)
        var applied = 0
        var retries = 0
        for batch in batches.prefix(2) { applied += try await Self.apply(batch, writer: writer, now: now, retries: &retries).applied }
        let reshardDone = OnceFlag()
        let reshard = Task {
            defer { reshardDone.set() }
            return try await cluster.reshard(slots: moving, from: source, to: target)
        }
        for batch in batches.dropFirst(2) { applied += try await Self.apply(batch, writer: writer, now: now, retries: &retries).applied }
        // Replays while the reshard goes on: nothing counts twice.
        var replays = 0
        var replayedApplied = 0
        repeat {
            for batch in batches { replayedApplied += try await Self.apply(batch, writer: writer, now: now, retries: &retries).applied }
            replays += 1
        } while !reshardDone.isSet && replays < 20
        let reshardTook = try await reshard.value
        #expect(replayedApplied == 0)
        #expect(try await cluster.slotCount(port: source) == 0)
        let redirections = redis.clusterRedirections
        #expect(redirections.moved > 0, "\(redirections)")
        print("features on a cluster: \(moving) slots moved in \(reshardTook) under \(batches.count) batches and \(replays) replays; \(retries) batch retries; \(redirections)")

        // The same state as on one server, key by key.
        let reference = try FeatureFixture()
        for batch in batches { _ = try await reference.writer.apply(batch, now: now) }
        let onCluster = Dictionary(uniqueKeysWithValues: try await RedisSnapshot.take(redis, prefix: configuration.keyPrefix + ":", omittingKeysExpiringBefore: FeatureFixture.snapshotCutoff).map {
            (String($0.key.dropFirst(configuration.keyPrefix.count)), $0.value)
        })
        let expected = try await reference.snapshot()
        #expect(applied > 4000 && onCluster.count > 500)
        let differing = Set(onCluster.keys).union(expected.keys).filter { onCluster[$0] != expected[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) keys differ: \(differing.prefix(5).map { "\($0): \(onCluster[$0]?.prefix(200) ?? "absent") vs \(expected[$0]?.prefix(200) ?? "absent")" })")

        // What the API reads: the same answers from the cluster as from one server.
        let reader = FeatureReader(configuration: configuration, redis: redis)
        let preferences = PreferenceWriter(configuration: configuration, redis: redis)
        let referencePreferences = PreferenceWriter(configuration: reference.configuration, redis: reference.redis)
        for domain in EventDomain.allCases {
            for window in configuration.windows {
                #expect(try await reader.popular(domain, window: window.name, limit: 50, now: now) == (try await reference.reader.popular(domain, window: window.name, limit: 50, now: now)))
            }
            #expect(try await reader.trending(domain, limit: 20, now: now) == (try await reference.reader.trending(domain, limit: 20, now: now)))
        }
        let users = Set(events.map(\.event.userID)).sorted().prefix(40)
        for user in users {
            for domain in EventDomain.allCases {
                let state = try await reader.userState(user: user, domain: domain, seen: true, historyLimit: 50, preferences: true)
                let expectedState = try await reference.reader.userState(user: user, domain: domain, seen: true, historyLimit: 50, preferences: true)
                #expect(state.seen.sorted() == expectedState.seen.sorted() && state.history == expectedState.history && state.preferences == expectedState.preferences)
                #expect(try await reader.affinity(user: user, domain: domain) == (try await reference.reader.affinity(user: user, domain: domain)))
            }
            #expect(try await reader.lastActive(user: user) == (try await reference.reader.lastActive(user: user)))
            // The API's one write, then its read.
            try await preferences.set(user: user, domain: .movie, weights: [("Drama", 1), ("Comedy", 0.5)])
            try await referencePreferences.set(user: user, domain: .movie, weights: [("Drama", 1), ("Comedy", 0.5)])
            #expect(try await reader.preferences(user: user, domain: .movie) == (try await reference.reader.preferences(user: user, domain: .movie)))
        }
        for poll in 1...20 {
            #expect(try await reader.pollTally("p\(poll)") == (try await reference.reader.pollTally("p\(poll)")))
        }

        try await reference.finish()
        await redis.shutdown()
    }

    /// As the processor does: a batch that failed with a retriable error is applied again.
    static func apply(_ batch: [FeatureEvent], writer: FeatureWriter, now: Int64, retries: inout Int) async throws -> FeatureApplyOutcome {
        while true {
            let result: Result<FeatureApplyOutcome, RedisError>
            do { result = .success(try await writer.apply(batch, now: now)) } catch { result = .failure(error) }
            switch result {
            case .success(let outcome): return outcome
            case .failure(let error) where error.isRetriable && retries < 20:
                retries += 1
                try await Task.sleep(for: .milliseconds(50))
            case .failure(let error): throw error
            }
        }
    }
}
