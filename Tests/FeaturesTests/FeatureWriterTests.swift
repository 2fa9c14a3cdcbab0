import Events
@testable import Features
import Foundation
import Redis
import StackTestSupport
import Testing

/// Helpers shared by the feature tests: events at chosen times, and a writer/reader pair under a
/// key prefix of the test's own.
struct FeatureFixture {
    let redis: RedisClient
    let configuration: FeatureConfiguration
    let writer: FeatureWriter
    let reader: FeatureReader

    init(prefix: String = TestStack.uniqueName("test"), configure: (inout FeatureConfiguration) -> Void = { _ in }) throws {
        redis = RedisClient(configuration: try TestStack.redisConfiguration())
        var configuration = FeatureConfiguration()
        configuration.keyPrefix = prefix + ":v2"
        configure(&configuration)
        self.configuration = configuration
        writer = FeatureWriter(configuration: configuration, redis: redis)
        reader = FeatureReader(configuration: configuration, redis: redis)
    }

    /// Keys without the prefix, so two fixtures' snapshots compare. Keys expiring before `cutoff` are
    /// left out (see ``RedisSnapshot``): a window bucket can expire between two snapshots of a slow run,
    /// or before a later pass applies its event, and then it belongs in neither. The default, 30 minutes
    /// from the first use in this process, is shared by every snapshot of a test.
    func snapshot(omittingKeysExpiringBefore cutoff: Int64 = FeatureFixture.snapshotCutoff) async throws -> [String: String] {
        let prefix = configuration.keyPrefix
        return Dictionary(uniqueKeysWithValues: try await RedisSnapshot.take(redis, prefix: prefix + ":", omittingKeysExpiringBefore: cutoff).map {
            (String($0.key.dropFirst(prefix.count)), $0.value)
        })
    }

    static let snapshotCutoff = wallNow() + 30 * 60_000

    func finish() async throws {
        try await RedisSnapshot.delete(redis, prefix: configuration.keyPrefix + ":")
        await redis.shutdown()
    }
}

func makeEvent(
    _ type: EventType, user: String, subject: String, at milliseconds: Int64, payload: EventPayload = .none, id: String = EventID.random()
) -> Event {
    Event(eventID: id, type: type, userID: user, subjectID: subject, occurredAt: EventTimestamp(millisecondsSinceEpoch: milliseconds), payload: payload)
}

func at(_ event: Event, offset: Int64, partition: Int32 = 0, groups: [String] = []) -> FeatureEvent {
    FeatureEvent(event: event, position: RecordPosition(topic: "t", partition: partition, offset: offset), groups: groups)
}

func wallNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

@Suite("Window arithmetic")
struct WindowArithmeticTests {
    @Test func bucketEdgesBelongToTheLaterBucket() {
        let window = PopularityWindow(name: "1h", length: .seconds(3600), bucket: .seconds(300))
        #expect(window.bucketCount == 12)
        #expect(window.bucket(containing: 0) == 0)
        #expect(window.bucket(containing: 299_999) == 0)
        #expect(window.bucket(containing: 300_000) == 1)
        #expect(window.bucket(containing: -1) == -1)
        #expect(window.bucket(containing: -300_000) == -1)
        #expect(window.bucket(containing: -300_001) == -2)
        // A read at 1h 0m 0.000s sums buckets 1...12: [5 min, 1 h 5 min).
        #expect(window.buckets(at: 3_600_000) == 1...12)
        #expect(window.buckets(at: 3_599_999) == 0...11)
    }

    @Test func windowListsAreValidated() throws {
        let windows = try PopularityWindow.parseList("1h:5m,24h:1h,7d:6h").get()
        #expect(windows.map(\.name) == ["1h", "24h", "7d"])
        #expect(windows[2].bucketCount == 28)
        for bad in ["", "1h", "1h:7m", "1h:5m,1h:10m", "5m:1h", "1x:5m", "1h:0m"] {
            #expect(throws: FeatureConfigurationError.self, "\(bad)") { try PopularityWindow.parseList(bad).get() }
        }
    }

    @Test func clusterSlotsFollowHashTags() {
        // Reference values from the Redis Cluster specification's CRC16 (XMODEM): "123456789" → 0x31C3.
        #expect(RedisHashSlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        let keys = FeatureKeys(prefix: "sr:v2")
        let user = "user-42"
        let slots = Set([keys.userState(user, .movie), keys.userState(user, .poll), keys.userPreferences(user, .movie)].map { RedisHashSlot.slot(of: $0) })
        #expect(slots.count == 1)
        #expect(Set([keys.eventIDs(.movie, hour: 1), keys.eventIDs(.movie, hour: 2)].map { RedisHashSlot.slot(of: $0) }).count == 1)
        let popularity = Set([
            keys.appliedOffsets(.movie), keys.popularityBucket(.movie, window: "1h", bucket: 7),
            keys.popularityBucket(.movie, window: "7d", bucket: 1),
        ].map { RedisHashSlot.slot(of: $0) })
        #expect(popularity.count == 1)
        // Tallies change in the poll domain's popularity script, with its applied offsets.
        #expect(Set([keys.appliedOffsets(.poll), keys.pollTally("p1"), keys.pollTally("p2")].map { RedisHashSlot.slot(of: $0) }).count == 1)
    }
}

@Suite("Feature writer against Redis", .serialized)
struct FeatureWriterTests {
    @Test func windowsIncludeAndExcludeAtBucketEdges() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let edge = now / 300_000 * 300_000  // a 5-minute edge, at most 5 minutes ago
        let outcome = try await fixture.writer.apply([
            at(makeEvent(.movieLike, user: "u1", subject: "on-edge", at: edge), offset: 0, groups: ["Drama"]),
            at(makeEvent(.movieLike, user: "u2", subject: "before-edge", at: edge - 1), offset: 1, groups: ["Drama"]),
            // Out of order: an older event after a newer one still lands in its own bucket.
            at(makeEvent(.movieLike, user: "u3", subject: "before-edge", at: edge - 600_000), offset: 2),
        ], now: now)
        #expect(outcome.applied == 3)

        let reader = fixture.reader
        let fiftyFiveLater = edge + 55 * 60_000
        #expect(try await reader.popularityScores(.movie, window: "1h", now: fiftyFiveLater) == ["on-edge": 1])
        #expect(try await reader.popularityScores(.movie, window: "24h", now: fiftyFiveLater) == ["on-edge": 1, "before-edge": 2])
        #expect(try await reader.popularityScores(.movie, window: "1h", now: edge + 60 * 60_000).isEmpty)
        // Popularity per item only: the genres of the events made no keys of their own.
        #expect(try await RedisSnapshot.take(fixture.redis, prefix: fixture.configuration.keyPrefix + ":").keys.allSatisfy { !$0.contains(":group:") })
        let popular = try await reader.popular(.movie, window: "24h", limit: 1, now: edge)
        #expect(popular == [ScoredItem(item: "before-edge", score: 2)])
        try await fixture.finish()
    }

    /// The script reads and writes a bucket key's members 1 000 at a time: over several chunks, in one
    /// quantum and in two (a bucket key shared by both), members are summed and removed at 0 exactly as one
    /// `ZINCRBY` each would.
    @Test func moreThanAThousandMembersPerBucketAreSummedExactly() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let quantum = now / 300_000 * 300_000  // a 5-minute edge: two quanta in the same 1h-and-longer buckets
        var expected: [String: Double] = [:]
        var offset: Int64 = 0
        func like(_ item: Int, _ type: EventType, at time: Int64) -> FeatureEvent {
            defer { offset += 1 }
            // One user per event, so no user's history decides anything here.
            return at(makeEvent(type, user: "u\(offset)", subject: "m\(item)", at: time), offset: offset)
        }
        var first: [FeatureEvent] = []
        for item in 0..<2_500 {
            first.append(like(item, .movieLike, at: quantum + 1_000))
            expected["m\(item)", default: 0] += 1
        }
        for item in 0..<1_200 {  // the previous quantum: the same 24h and 7d buckets, another 1h bucket or the same
            first.append(like(item, .movieLike, at: quantum - 1_000))
            expected["m\(item)", default: 0] += 1
        }
        #expect(try await fixture.writer.apply(first, now: now).applied == first.count)
        var second: [FeatureEvent] = []
        for item in stride(from: 0, to: 2_500, by: 2) {
            // Dislikes: back to 0 (removed) where only one like was, 1 where two were.
            second.append(like(item, .movieDislike, at: quantum + 2_000))
            expected["m\(item)", default: 0] -= 1
        }
        #expect(try await fixture.writer.apply(second, now: now).applied == second.count)
        let scores = try await fixture.reader.popularityScores(.movie, window: "7d", now: now)
        #expect(scores == expected.filter { $0.value != 0 })
        #expect(scores.count == 1_850 && scores["m0"] == 1 && scores["m1"] == 2 && scores["m2000"] == nil && scores["m2001"] == 1)
        try await fixture.finish()
    }

    /// (short weight / 1h) / ((long weight + 1) / 24h), only items with weight in the last hour.
    @Test func trendingComparesTheShortWindowsRateWithTheLongOnes() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let hour: Int64 = 3_600_000
        var events: [FeatureEvent] = []
        func like(_ item: String, at time: Int64, groups: [String] = []) {
            events.append(at(makeEvent(.movieLike, user: "u\(events.count)", subject: item, at: time), offset: Int64(events.count), groups: groups))
        }
        for _ in 0..<10 { like("steady-favourite", at: now - 5 * hour, groups: ["Drama"]) }  // popular, not rising
        like("steady-favourite", at: now - 60_000, groups: ["Drama"])
        for _ in 0..<2 { like("rising", at: now - 60_000) }  // new this hour
        like("faded", at: now - 3 * hour)
        _ = try await fixture.writer.apply(events, now: now)

        let popular = try await fixture.reader.popular(.movie, window: "24h", limit: 10, now: now)
        #expect(popular.map(\.item) == ["steady-favourite", "rising", "faded"])
        let trending = try await fixture.reader.trending(.movie, limit: 10, now: now)
        #expect(trending.map(\.item) == ["rising", "steady-favourite"])  // "faded": nothing in the last hour
        #expect(abs(trending[0].score - 2.0 * 24 / 3) < 1e-9)
        #expect(abs(trending[1].score - 1.0 * 24 / 12) < 1e-9)
        #expect(try await fixture.reader.trending(.movie, limit: 1, now: now).map(\.item) == ["rising"])
        try await fixture.finish()
    }

    @Test func ratingsAreCentredOnTheUsersMeanAndUserStateIsKept() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let outcome = try await fixture.writer.apply([
            at(makeEvent(.movieRating, user: "u", subject: "m1", at: now - 3000, payload: .rating(5)), offset: 0, groups: ["Drama", "War"]),
            at(makeEvent(.movieRating, user: "u", subject: "m2", at: now - 2000, payload: .rating(1)), offset: 1, groups: ["Drama"]),
            at(makeEvent(.movieView, user: "u", subject: "m3", at: now - 1000, payload: .view(watchSeconds: 30)), offset: 2, groups: ["Comedy"]),
        ], now: now)
        // 5 − 3.5 = 1.5; then the mean is (5 + 3.5·2) / 3 = 4, so 1 counts −3; a view counts 0.2.
        #expect(outcome.statuses == [.applied(weightUnits: 15_000), .applied(weightUnits: -30_000), .applied(weightUnits: 2_000)])
        let history = try await fixture.reader.history(user: "u", domain: .movie, limit: 10)
        #expect(history.map(\.item) == ["m3", "m2", "m1"])
        #expect(history.map(\.weight) == [0.2, -3, 1.5])
        #expect(try await fixture.reader.seen(user: "u", domain: .movie) == ["m1", "m2", "m3"])
        #expect(try await fixture.reader.affinity(user: "u", domain: .movie) == ["Drama": -1.5, "War": 1.5, "Comedy": 0.2])
        #expect(try await fixture.reader.lastActive(user: "u") == EventTimestamp(millisecondsSinceEpoch: now - 1000))
        let ttl = try await fixture.redis.send(RedisCommand("TTL", fixture.writer.keys.userState("u", .movie))).int ?? 0
        #expect(ttl > 89 * 86_400, "the state expires after features.user_idle_expiry without activity: \(ttl)")
        try await fixture.finish()
    }

    @Test func aChangedVoteMovesTheCountAndOlderVotesLose() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let events = [
            at(makeEvent(.pollVote, user: "u1", subject: "p", at: now - 5000, payload: .vote(optionID: "a")), offset: 0),
            at(makeEvent(.pollVote, user: "u2", subject: "p", at: now - 4000, payload: .vote(optionID: "a")), offset: 1),
            at(makeEvent(.pollVote, user: "u1", subject: "p", at: now - 3000, payload: .vote(optionID: "b")), offset: 2),
        ]
        _ = try await fixture.writer.apply(events, now: now)
        #expect(try await fixture.reader.pollTally("p") == PollTally(options: ["a": 1, "b": 1], totalVoters: 2))
        // A voter's state does not expire (the tallies do not): forgotten, a later vote would count twice.
        #expect(try await fixture.redis.send(RedisCommand("TTL", fixture.writer.keys.userState("u1", .poll))) == .integer(-1))
        // A vote that happened before u1's change, arriving late, does not undo it.
        _ = try await fixture.writer.apply([
            at(makeEvent(.pollVote, user: "u1", subject: "p", at: now - 4500, payload: .vote(optionID: "c")), offset: 3),
        ], now: now)
        #expect(try await fixture.reader.pollTally("p") == PollTally(options: ["a": 1, "b": 1], totalVoters: 2))
        // u2 changes to b: a is gone from the tally.
        _ = try await fixture.writer.apply([
            at(makeEvent(.pollVote, user: "u2", subject: "p", at: now - 1000, payload: .vote(optionID: "b")), offset: 4),
        ], now: now)
        let before = try await fixture.snapshot()
        #expect(try await fixture.reader.pollTally("p") == PollTally(options: ["b": 2], totalVoters: 2))
        // Replaying everything changes nothing.
        _ = try await fixture.writer.apply(events, now: now)
        #expect(try await fixture.snapshot() == before)
        try await fixture.finish()
    }

    /// Options may hold `|`. Stored first and parsed from the left, `a|b` once made the script fail on the
    /// user's next vote (the processor retried that batch forever) and `a|5` moved a count it should not.
    @Test func optionsHoldingTheSeparatorAreCountedExactly() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let first = [
            at(makeEvent(.pollVote, user: "u1", subject: "p", at: now - 5000, payload: .vote(optionID: "a|b")), offset: 0),
            at(makeEvent(.pollVote, user: "u2", subject: "p", at: now - 5000, payload: .vote(optionID: "a|5")), offset: 1),
            at(makeEvent(.pollVote, user: "u3", subject: "p", at: now - 5000, payload: .vote(optionID: "a|5|x")), offset: 2),
        ]
        let outcome = try await fixture.writer.apply(first, now: now)
        #expect(outcome.rejected == 0)
        let changed = [
            at(makeEvent(.pollVote, user: "u1", subject: "p", at: now - 4000, payload: .vote(optionID: "c")), offset: 3),
            at(makeEvent(.pollVote, user: "u2", subject: "p", at: now - 4000, payload: .vote(optionID: "a|5")), offset: 4),
        ]
        #expect(try await fixture.writer.apply(changed, now: now).rejected == 0)
        let expected = PollTally(options: ["c": 1, "a|5": 1, "a|5|x": 1], totalVoters: 3)
        #expect(try await fixture.reader.pollTally("p") == expected)
        // Applied again, twice, in full: nothing moves.
        for _ in 0..<2 { _ = try await fixture.writer.apply(first + changed, now: now) }
        #expect(try await fixture.reader.pollTally("p") == expected)
        try await fixture.finish()
    }

    /// An event Redis refuses for good (here: its poll's tally key holds a string, so the popularity script
    /// answers WRONGTYPE for that key before writing anything) comes back `rejected` with the reason; the
    /// events around it are applied once.
    @Test func anEventRedisRefusesIsSetAsideAndTheRestApplied() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        _ = try await fixture.redis.send(RedisCommand("SET", fixture.writer.keys.pollTally("broken"), "not a hash"))
        var events: [FeatureEvent] = []
        for index in 0..<9 {
            let poll = index == 4 ? "broken" : "p"
            events.append(at(makeEvent(.pollVote, user: "u\(index)", subject: poll, at: now - 1000, payload: .vote(optionID: index % 2 == 0 ? "a" : "b")), offset: Int64(index)))
        }
        events.append(at(makeEvent(.movieLike, user: "u9", subject: "m1", at: now - 1000), offset: 9))
        let outcome = try await fixture.writer.apply(events, now: now)
        #expect(outcome.statuses.count == events.count)
        #expect(outcome.rejected == 1)
        guard case .rejected(let reason) = outcome.statuses[4] else {
            Issue.record("the vote on the broken poll was not rejected: \(outcome.statuses[4])")
            return
        }
        #expect(reason.contains("WRONGTYPE"), "\(reason)")
        // Nothing is written before the refusal is known: the others are applied once, none replayed.
        #expect(outcome.applied == 9)
        #expect(try await fixture.reader.pollTally("p") == PollTally(options: ["a": 4, "b": 4], totalVoters: 8))
        #expect(try await fixture.reader.popular(.movie, window: "1h", limit: 10, now: now).map(\.item) == ["m1"])
        // The batch again (a retry after another sink failed, or a replay): the refused event is refused
        // again (its event id keeps the reason), so it is dead-lettered again and never applied; nothing
        // else counts twice.
        let before = try await fixture.snapshot()
        let again = try await fixture.writer.apply(events, now: now)
        #expect(again.rejected == 1 && again.applied == 0, "\(again.statuses)")
        #expect(try await fixture.snapshot() == before)
        try await fixture.finish()
    }

    @Test func whichErrorsAreTheEventsFault() {
        #expect(RedisError.server("ERR user_script:14: attempt to compare nil with number script: 4763d1, on @user_script:14.").refusesInput)
        #expect(RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value script: 4763d1, on @user_script:11.").refusesInput)
        #expect(RedisError.server("BADVOTE unreadable stored vote: x").refusesInput)
        // The server's state, not the event's: retried.
        #expect(!RedisError.server("ERR max number of clients reached").refusesInput)
        #expect(!RedisError.server("OOM command not allowed when used memory > 'maxmemory'. script: 4763d1, on @user_script:30.").refusesInput)
        #expect(!RedisError.server("NOPERM this user has no permissions to access one of the keys used as arguments").refusesInput)
        #expect(!RedisError.server("LOADING Redis is loading the dataset in memory").refusesInput)
        #expect(!RedisError.connectionLost("reset").refusesInput)
    }

    /// A user whose state key Redis refuses (a string where the hash belongs): the user's events are
    /// refused on every retry, leave no trace (no event id kept, so a retry cannot call them replays or
    /// duplicates) and count nowhere; other users' events apply.
    @Test func anEventOfAUserWhoseStateIsRefusedStaysRefused() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        _ = try await fixture.redis.send(RedisCommand("SET", fixture.writer.keys.userState("broken", .movie), "not a hash"))
        let events = [
            at(makeEvent(.movieLike, user: "fine", subject: "m1", at: now - 1000), offset: 0),
            at(makeEvent(.movieLike, user: "broken", subject: "m2", at: now - 1000), offset: 1),
            at(makeEvent(.movieLike, user: "fine2", subject: "m3", at: now - 1000), offset: 2),
        ]
        for _ in 0..<2 {
            let outcome = try await fixture.writer.apply(events, now: now)
            guard case .rejected(let reason) = outcome.statuses[1] else {
                Issue.record("not rejected: \(outcome.statuses)")
                return
            }
            #expect(reason.contains("WRONGTYPE"), "\(reason)")
        }
        let idKey = fixture.writer.keys.eventIDs(.movie, hour: FeatureWriter.eventIDHour(events[1].event))
        #expect(try await fixture.redis.send(RedisCommand("HEXISTS", idKey, events[1].event.eventID)) == .integer(0))
        #expect(try await fixture.redis.send(RedisCommand("HEXISTS", idKey, events[0].event.eventID)) == .integer(1))
        let popular = try await fixture.reader.popularityScores(.movie, window: "1h", now: now)
        #expect(popular == ["m1": 1, "m3": 1], "the refused like counts nowhere; the others once")
        try await fixture.finish()
    }

    /// Most of a batch refused is a broken shared key, not bad events: the batch is retried, not dead-lettered.
    @Test func aBatchMostlyRefusedIsRetriedNotDeadLettered() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        _ = try await fixture.redis.send(RedisCommand("SET", fixture.writer.keys.pollTally("p"), "not a hash"))
        let votes = (0..<4).map { at(makeEvent(.pollVote, user: "u\($0)", subject: "p", at: now - 1000, payload: .vote(optionID: "a")), offset: Int64($0)) }
        let error = await #expect(throws: RedisError.self) { try await fixture.writer.apply(votes, now: now) }
        #expect(error?.refusesInput == true)
        try await fixture.finish()
    }

    /// The counts and the voter total are two keys: a reader must never see one without the other.
    @Test func aTallyReadWhileVotesLandAlwaysAddsUp() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let voters = 300
        let writing = Task {
            for voter in 0..<voters {
                let vote = makeEvent(.pollVote, user: "u\(voter)", subject: "p", at: now - 1000, payload: .vote(optionID: voter % 3 == 0 ? "a" : "b"))
                _ = try await fixture.writer.apply([at(vote, offset: Int64(voter))], now: now)
            }
        }
        var reads = 0
        var torn: [PollTally] = []
        var tally = PollTally(options: [:], totalVoters: 0)
        while tally.totalVoters < voters {
            tally = try await fixture.reader.pollTally("p")
            reads += 1
            if tally.options.values.reduce(0, +) != tally.totalVoters { torn.append(tally) }
        }
        try await writing.value
        #expect(torn.isEmpty, "\(torn.count) of \(reads) reads did not add up, first: \(torn.first.map { "\($0)" } ?? "")")
        #expect(tally == PollTally(options: ["a": 100, "b": 200], totalVoters: voters))
        try await fixture.finish()
    }

    @Test func lateEventsAndDuplicatesHaveNoEffect() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let horizon = fixture.configuration.horizonMilliseconds
        let like = makeEvent(.movieLike, user: "u", subject: "m", at: now - 1000)
        let outcome = try await fixture.writer.apply([
            at(makeEvent(.movieLike, user: "u", subject: "old", at: now - horizon - 1), offset: 0),
            at(like, offset: 1),
            at(like, offset: 2),  // the producer wrote the same event twice
        ], now: now)
        #expect(outcome.statuses == [.late, .applied(weightUnits: 10_000), .duplicate])
        let replay = try await fixture.writer.apply([at(like, offset: 1), at(like, offset: 2)], now: now)
        #expect(replay.statuses == [.replayed, .duplicate])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 1])
        #expect(try await fixture.reader.seen(user: "u", domain: .movie) == ["m"])
        try await fixture.finish()
    }

    /// A member that lost its partition without knowing (a zombie: paused past the session timeout)
    /// still believes its cached applied offset; the new owner moved it on. The zombie's re-apply of
    /// records the new owner already applied must hit the compare-and-set (`STALE`), re-read, and count
    /// nothing twice.
    @Test func aZombieMembersStaleOffsetsCountNothingTwice() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let events = (0..<30).map { at(makeEvent(.movieLike, user: "u\($0)", subject: $0 % 2 == 0 ? "m" : "n", at: now - 1000), offset: Int64($0)) }
        let zombie = fixture.writer
        let newOwner = FeatureWriter(configuration: fixture.configuration, redis: fixture.redis)
        _ = try await zombie.apply(Array(events[0..<10]), now: now, logEnds: ["t/0": 30])  // caches applied offset 9
        _ = try await newOwner.apply(Array(events[10..<20]), now: now, logEnds: ["t/0": 30])  // stored: 19
        let afterOwner = try await fixture.reader.popularityScores(.movie, window: "7d", now: now)
        #expect(afterOwner == ["m": 10, "n": 10])
        // The zombie re-applies 10…19 believing 9 is the last applied offset.
        let replay = try await zombie.apply(Array(events[10..<20]), now: now, logEnds: ["t/0": 30])
        #expect(replay.applied == 0)
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == afterOwner)
        // And then goes on with what is really new: counted once.
        _ = try await zombie.apply(Array(events[15..<30]), now: now, logEnds: ["t/0": 30])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 15, "n": 15])
        try await fixture.finish()
    }

    /// A broker restarted empty (the local one keeps topics in memory) or a topic deleted and created
    /// again restarts offsets at 0. A replay is told from that by the log end: below the applied offset
    /// only after a recreation.
    @Test func aRecreatedTopicCountsAgainAReplayDoesNot() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let first = (0..<50).map { at(makeEvent(.movieLike, user: "u\($0)", subject: "m", at: now - 1000), offset: Int64($0)) }
        _ = try await fixture.writer.apply(first, now: now, logEnds: ["t/0": 50])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 50])
        // A replay of the tail: log end still 50, so offsets 40…49 are known and nothing counts twice.
        _ = try await fixture.writer.apply(Array(first[40...]), now: now, logEnds: ["t/0": 50])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 50])
        // The topic again from offset 0 with new events; its log end (5) is below the applied offset (49).
        let second = (0..<5).map { at(makeEvent(.movieLike, user: "v\($0)", subject: "n", at: now - 500), offset: Int64($0)) }
        let outcome = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 5])
        #expect(outcome.applied == 5)
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 50, "n": 5])
        // From then on the new offsets are the applied ones: a replay of them counts nothing.
        _ = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 5])
        fixture.writer.forgetAppliedOffsets()
        _ = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 5])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 50, "n": 5])
        try await fixture.finish()
    }

    /// The training store keeps one row per event id; Redis must count one event per id as well, even
    /// when a producer sends the same id under two users (the markers were per user once, and both
    /// counted).
    @Test func anEventIDReusedUnderAnotherUserCountsOnce() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        let id = EventID.random()
        let first = at(makeEvent(.movieLike, user: "u1", subject: "m", at: now - 2000, id: id), offset: 0)
        let second = at(makeEvent(.movieLike, user: "u2", subject: "m", at: now - 1000, id: id), offset: 1)
        let outcome = try await fixture.writer.apply([first, second], now: now)
        #expect(outcome.statuses.count == 2 && outcome.statuses[1] == .duplicate, "\(outcome.statuses)")
        // Again in another batch and in the other order: still once.
        _ = try await fixture.writer.apply([at(second.event, offset: 2)], now: now)
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 1])
        let (_, history) = try await fixture.reader.seenAndHistory(user: "u2", domain: .movie, seen: true, historyLimit: 10)
        #expect(history.isEmpty, "u2 got the event of u1's id")
        try await fixture.finish()
    }

    /// With the topic's id at hand, a recreated partition is told from a replay even once it has grown
    /// past the old applied offset, which the log end alone cannot do; offsets stored without an id (as
    /// before ids were kept) are still read, and the id is added on the next write.
    @Test func aTopicIDTellsARecreatedPartitionThatGrewPastTheOldOffset() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        func likes(_ item: String, _ count: Int) -> [FeatureEvent] {
            (0..<count).map { at(makeEvent(.movieLike, user: "\(item)\($0)", subject: item, at: now - 1000), offset: Int64($0)) }
        }
        // Written without an id: a plain offset, read as before.
        let first = likes("m", 30)
        _ = try await fixture.writer.apply(first, now: now, logEnds: ["t/0": 30])
        fixture.writer.forgetAppliedOffsets()
        // (Each event's own marker says "replayed"; the applied offset is what keeps popularity from counting it again.)
        _ = try await fixture.writer.apply(first, now: now, logEnds: ["t/0": 30], topicIDs: ["t": "A"])
        let offsets = try await fixture.redis.send(RedisCommand("HGET", fixture.writer.keys.appliedOffsets(.movie), "t/0"))
        #expect(offsets.string == "29@A")
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 30])
        // The same incarnation: a replay counts nothing, from the cache or from Redis.
        _ = try await fixture.writer.apply(first, now: now, logEnds: ["t/0": 30], topicIDs: ["t": "A"])
        fixture.writer.forgetAppliedOffsets()
        _ = try await fixture.writer.apply(first, now: now, logEnds: ["t/0": 30], topicIDs: ["t": "A"])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 30])
        // Recreated (id B) and already longer than before: offsets 0…49 are all new records.
        let second = likes("n", 50)
        fixture.writer.forgetAppliedOffsets()
        #expect(try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 50], topicIDs: ["t": "B"]).applied == 50)
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 30, "n": 50])
        _ = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 50], topicIDs: ["t": "B"])
        fixture.writer.forgetAppliedOffsets()
        // Without an id at hand (a failed lookup) the stored offset is trusted, as before ids.
        _ = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 50])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 30, "n": 50])
        try await fixture.finish()
    }

    /// A topic recreated while the id at hand is still the old one (looked up before the recreation):
    /// the log end tells, the new offsets are stored without an id and the topic is reported stale, so
    /// that the true id, once looked up, does not disown them and count their records again.
    @Test func aStaleTopicIDDoesNotLabelTheNewIncarnation() async throws {
        let fixture = try FeatureFixture()
        let now = wallNow()
        func likes(_ item: String, _ count: Int) -> [FeatureEvent] {
            (0..<count).map { at(makeEvent(.movieLike, user: "\(item)\($0)", subject: item, at: now - 1000), offset: Int64($0)) }
        }
        _ = try await fixture.writer.apply(likes("m", 30), now: now, logEnds: ["t/0": 30], topicIDs: ["t": "A"])
        #expect(fixture.writer.takeStaleTopicIDs().isEmpty)
        let second = likes("n", 5)
        _ = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 5], topicIDs: ["t": "A"])
        #expect(fixture.writer.takeStaleTopicIDs() == ["t"])
        #expect(try await fixture.redis.send(RedisCommand("HGET", fixture.writer.keys.appliedOffsets(.movie), "t/0")).string == "4")
        // The true id looked up again: the stored offset (no id) is trusted, a replay counts nothing.
        fixture.writer.forgetAppliedOffsets()
        _ = try await fixture.writer.apply(second, now: now, logEnds: ["t/0": 5], topicIDs: ["t": "B"])
        #expect(try await fixture.reader.popularityScores(.movie, window: "7d", now: now) == ["m": 30, "n": 5])
        #expect(try await fixture.redis.send(RedisCommand("HGET", fixture.writer.keys.appliedOffsets(.movie), "t/0")).string == "4@B")
        try await fixture.finish()
    }

    /// The same events applied in one clean pass, or with prefixes re-applied and other batch
    /// boundaries (what a crash between apply and commit produces), give the same Redis data.
    @Test func replaysAndOtherBatchBoundariesGiveIdenticalState() async throws {
        let now = wallNow()
        let events = Self.mixedEvents(count: 3000, now: now, seed: 7)
        let clean = try FeatureFixture()
        for start in stride(from: 0, to: events.count, by: 500) {
            _ = try await clean.writer.apply(Array(events[start..<min(events.count, start + 500)]), now: now)
        }
        let crashed = try FeatureFixture()
        _ = try await crashed.writer.apply(Array(events[0..<700]), now: now)
        _ = try await crashed.writer.apply(Array(events[300..<1300]), now: now)  // replay after a "crash"
        crashed.writer.forgetAppliedOffsets()  // as after a rebalance
        for start in stride(from: 1000, to: events.count, by: 123) {
            _ = try await crashed.writer.apply(Array(events[start..<min(events.count, start + 123)]), now: now)
        }
        let replay = try await crashed.writer.apply(events, now: now)  // the whole topic again
        #expect(replay.applied == 0)
        let cleanSnapshot = try await clean.snapshot()
        let crashedSnapshot = try await crashed.snapshot()
        #expect(cleanSnapshot.count > 500)
        #expect(cleanSnapshot == crashedSnapshot)
        try await clean.finish()
        try await crashed.finish()
    }

    /// On a Redis Cluster every command and script call must keep to one hash slot. A one-node cluster
    /// refuses anything else (CROSSSLOT) exactly as a real one does. The writer needs no cluster mode: each
    /// user's state is one key, popularity and tallies one script per domain slot, event ids one key per
    /// hour and domain. The whole stream applies, a replay counts nothing, and the state is the same as on
    /// a standalone server.
    @Test func onAClusterEveryScriptCallKeepsToOneSlot() async throws {
        let server = try await offThePool { try PrivateRedis(cluster: true) }
        defer { try? server.remove() }
        let now = wallNow()
        let events = Self.mixedEvents(count: 2000, now: now, seed: 11)
        let redis = RedisClient(configuration: server.configuration)
        var configuration = FeatureConfiguration()
        configuration.keyPrefix = TestStack.uniqueName("cluster") + ":v2"
        // The one-node cluster refuses what a real one does.
        let crossSlot = await #expect(throws: RedisError.self) { _ = try await redis.send(RedisCommand("MGET", "{a}x", "{b}y")) }
        #expect(crossSlot?.serverErrorCode == "CROSSSLOT", "\(String(describing: crossSlot))")
        let writer = FeatureWriter(configuration: configuration, redis: redis)
        for start in stride(from: 0, to: events.count, by: 500) {
            _ = try await writer.apply(Array(events[start..<min(events.count, start + 500)]), now: now)
        }
        #expect(try await writer.apply(events, now: now).applied == 0)  // a replay, still per slot
        // The same state as on a standalone server.
        let reference = try FeatureFixture()
        for start in stride(from: 0, to: events.count, by: 500) {
            _ = try await reference.writer.apply(Array(events[start..<min(events.count, start + 500)]), now: now)
        }
        let onCluster = Dictionary(uniqueKeysWithValues: try await RedisSnapshot.take(redis, prefix: configuration.keyPrefix + ":", omittingKeysExpiringBefore: FeatureFixture.snapshotCutoff).map {
            (String($0.key.dropFirst(configuration.keyPrefix.count)), $0.value)
        })
        #expect(onCluster.count > 500)
        #expect(onCluster == (try await reference.snapshot()))
        // Readers too: windows (ZUNION over buckets), trending (a transaction) and tallies keep to one slot.
        let reader = FeatureReader(configuration: configuration, redis: redis)
        #expect(!(try await reader.popular(.movie, window: "24h", limit: 5, now: now)).isEmpty)
        _ = try await reader.trending(.poll, limit: 5, now: now)
        _ = try await reader.pollTally("p1")
        _ = try await reader.seenAndHistory(user: "user-1", domain: .movie, seen: true, historyLimit: 10)
        try await reference.finish()
        await redis.shutdown()
    }

    /// The synthetic stream placed in two partitions by user, with the catalog's genres.
    static func mixedEvents(count: Int, now: Int64, seed: UInt64) -> [FeatureEvent] {
        let catalog = SyntheticEvents.catalog(movies: 50, polls: 20, now: now)
        var groups: [String: [String]] = [:]
        for event in catalog {
            switch event.payload {
            case .movieAdded(let movie): groups[event.subjectID] = movie.genres
            case .pollCreated(let poll): groups[event.subjectID] = [poll.category]
            default: break
            }
        }
        var offsets: [Int64] = [0, 0]
        return SyntheticEvents.interactions(count: count, now: now, seed: seed).map { event in
            let partition = Int32(RedisHashSlot.slot(of: event.userID) % 2)
            defer { offsets[Int(partition)] += 1 }
            return FeatureEvent(
                event: event, position: RecordPosition(topic: "t", partition: partition, offset: offsets[Int(partition)]),
                groups: groups[event.subjectID] ?? []
            )
        }
    }
}
