import Foundation
@testable import Ingest
import Kafka
import StackTestSupport
import SyntheticData
import Testing

@Suite("Idempotency cache")
struct IdempotencyCacheTests {
    static func entry(_ offset: Int64) -> IdempotencyCache.Entry {
        IdempotencyCache.Entry(payload: PayloadDigest(Array("event \(offset)".utf8)), topic: "streamrec.movie-events", partition: 1, offset: offset)
    }

    @Test("ids are found again, UUIDs and other text alike, one at a time or by the batch")
    func lookups() {
        let cache = IdempotencyCache(capacity: 10)
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
        let neighbour = "0f8fad5b-d9cb-469f-a165-70867728950f"
        let upper = "0F8FAD5B-D9CB-469F-A165-70867728950E"
        let text = "not-a-uuid"
        cache.remember([(uuid, Self.entry(1)), (text, Self.entry(2))])
        #expect(cache.lookup(uuid) == Self.entry(1))
        #expect(cache.lookup(text) == Self.entry(2))
        // One nibble apart, or the same letters in upper case, is another id.
        #expect(cache.lookup(neighbour) == nil)
        #expect(cache.lookup(upper) == nil)
        #expect(cache.lookup([neighbour, text, uuid, ""]) == [nil, Self.entry(2), Self.entry(1), nil])
        // A 36-character text that is not a UUID is kept as text, not misread.
        let almost = "0f8fad5b-d9cb-469f-a165-70867728950g"
        cache.remember(almost, Self.entry(3))
        #expect(cache.lookup(almost) == Self.entry(3))
        #expect(cache.lookup(uuid) == Self.entry(1))
        #expect(cache.count == 3)
    }

    @Test("bounded: the oldest ids are forgotten first; remembering an id again updates it in place")
    func eviction() {
        let cache = IdempotencyCache(capacity: 3)
        let ids = (0..<5).map { "00000000-0000-4000-8000-00000000000\($0)" }
        cache.remember([(ids[0], Self.entry(0)), (ids[1], Self.entry(1)), (ids[2], Self.entry(2))])
        cache.remember(ids[1], Self.entry(11))
        #expect(cache.count == 3)
        cache.remember([(ids[3], Self.entry(3)), (ids[4], Self.entry(4))])
        #expect(cache.lookup(ids) == [nil, nil, Self.entry(2), Self.entry(3), Self.entry(4)])
        #expect(cache.count == 3)
    }

    @Test("capacity 0 remembers nothing")
    func disabled() {
        let cache = IdempotencyCache(capacity: 0)
        cache.remember("00000000-0000-4000-8000-000000000000", Self.entry(0))
        #expect(cache.lookup("00000000-0000-4000-8000-000000000000") == nil)
        #expect(cache.lookup(["a", "b"]) == [nil, nil])
        #expect(cache.count == 0)
    }

    @Test("claims: of two requests with a new id one publishes, the other waits for its result (same payload) or conflicts; a failure releases the id, a success is remembered")
    func claims() async {
        let cache = IdempotencyCache(capacity: 10)
        let key = IdempotencyCache.Key("0f8fad5b-d9cb-469f-a165-70867728950e")
        let payload = PayloadDigest(Array("event".utf8))
        let other = PayloadDigest(Array("other event".utf8))
        guard case .claimed = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("a new id is claimed"); return }
        guard case .publishing(let first) = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("the same event waits"); return }
        guard case .conflict = cache.claim([(key: key, payload: other)])[0] else { Issue.record("other content under an id in flight conflicts"); return }
        #expect(cache.inFlightCount == 1)

        // A waiter that came before the result and one that comes after it both get it.
        async let early = first.outcome()
        try? await Task.sleep(for: .milliseconds(50))
        cache.settle([(key: key, result: .failure(KafkaError.closed))])
        let earlyResult = await early
        let lateResult = await first.outcome()
        #expect(earlyResult == .failure(KafkaError.closed))
        #expect(lateResult == .failure(KafkaError.closed))
        #expect(cache.inFlightCount == 0)
        #expect(cache.lookup(keys: [key]) == [nil], "a failure is not remembered")

        // Released: a retry claims it and publishes; this time it is accepted and remembered.
        guard case .claimed = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("a released id is claimed again"); return }
        guard case .publishing(let second) = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("the same event waits"); return }
        let entry = IdempotencyCache.Entry(payload: payload, topic: "streamrec.movie-events", partition: 2, offset: 42)
        cache.settle([(key: key, result: .success(entry))])
        let secondResult = await second.outcome()
        #expect(secondResult == .success(entry))
        guard case .accepted(let remembered) = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("a published id is a replay"); return }
        #expect(remembered == entry)
        guard case .conflict = cache.claim([(key: key, payload: other)])[0] else { Issue.record("other content under an accepted id conflicts"); return }
        #expect(cache.inFlightCount == 0)
    }

    @Test("capacity 0: concurrent requests still share one publication, but nothing is remembered after it")
    func claimsWithoutMemory() {
        let cache = IdempotencyCache(capacity: 0)
        let key = IdempotencyCache.Key("not-a-uuid")
        let payload = PayloadDigest(Array("event".utf8))
        guard case .claimed = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("a new id is claimed"); return }
        guard case .publishing = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("the same event waits"); return }
        cache.settle([(key: key, result: .success(IdempotencyCache.Entry(payload: payload, topic: "t", partition: 0, offset: 1)))])
        guard case .claimed = cache.claim([(key: key, payload: payload)])[0] else { Issue.record("nothing remembered"); return }
    }

    @Test("agrees with a plain model over 20 000 random remembers and lookups (eviction, updates, text ids)")
    func agreesWithAModel() {
        // A small capacity over a larger id space exercises eviction and the index's backward-shift
        // deletion on every insert once full.
        let capacity = 61
        let cache = IdempotencyCache(capacity: capacity)
        var model: [String: IdempotencyCache.Entry] = [:]
        var order: [String] = []
        var generator = SplitMix(7)
        let ids = (0..<400).map { index -> String in
            // Every tenth id is not a UUID (kept as text); the rest are UUIDs that differ in one word only.
            index % 10 == 0 ? "client-id-\(index)" : String(format: "%08x-0000-4000-8000-%012x", index * 2_654_435_761 % 4_294_967_296, index)
        }
        for step in 0..<20_000 {
            let id = ids[Int(generator.next() % UInt64(ids.count))]
            if generator.next() % 2 == 0 {
                let entry = Self.entry(Int64(step))
                cache.remember(id, entry)
                if model.updateValue(entry, forKey: id) == nil {
                    order.append(id)
                    if order.count > capacity { model[order.removeFirst()] = nil }
                }
            } else {
                #expect(cache.lookup(id) == model[id], "step \(step), id \(id)")
            }
        }
        #expect(cache.count == model.count)
        #expect(cache.lookup(ids) == ids.map { model[$0] })
    }
}
