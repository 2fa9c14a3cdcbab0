import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Kafka
import ServiceConfiguration
import StackTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Ingest gateway hardening against the local broker")
struct IngestHardeningTests {
    @Test("catalog events only from keys in gateway.catalog_producers: another key gets 403 catalog_not_permitted (field type) for them and 202 for interactions; in a batch only its catalog events are refused")
    func catalogWritesPerProducerKey() async throws {
        let gateway = try await Gateway()
        let events = IngestGatewayTests.events(recent())
        let (like, movieAdded, vote, pollCreated) = (events[1], events[4], events[7], events[9])
        try await gateway.test { client in
            for catalog in [movieAdded, pollCreated] {
                try await client.execute(uri: "/v1/events", method: .post, headers: interactionsJSONHeaders, body: json(catalog)) { response in
                    #expect(response.status == .forbidden)
                    #expect(errorCode(response) == "catalog_not_permitted")
                    #expect(parsed(response)?["error"]?["field"]?.text == "type")
                }
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: interactionsJSONHeaders, body: json(like)) { #expect($0.status == .accepted) }
            // The catalog producer's key.
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(movieAdded)) { #expect($0.status == .accepted) }
            // Batches from the other key: the catalog event is rejected in its place, the others accepted.
            let batches: [(HTTPFields, String)] = [
                (interactionsJSONHeaders, "[\(like),\(movieAdded),\(vote)]"),
                (interactionsNDJSONHeaders, [like, pollCreated, vote].joined(separator: "\n")),
            ]
            for (headers, batch) in batches {
                try await client.execute(uri: "/v1/events/batch", method: .post, headers: headers, body: json(batch)) { response in
                    #expect(response.status == .ok)
                    let result = try body(response)
                    #expect(result["accepted"]?.text == "2" && result["rejected"]?.text == "1" && result["unavailable"]?.text == "0")
                    #expect(result["results"]?[0]?["status"]?.text == "accepted" && result["results"]?[2]?["status"]?.text == "accepted")
                    #expect(result["results"]?[1]?["status"]?.text == "rejected")
                    #expect(result["results"]?[1]?["error"]?["code"]?.text == "catalog_not_permitted")
                    #expect(result["results"]?[1]?["error"]?["field"]?.text == "type")
                }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let samples = PrometheusSamples(String(buffer: response.body))
                #expect(samples.sum("streamrec_gateway_events_rejected_total", matching: ["reason": "catalog_not_permitted"]) == 4)
            }
        }
        await gateway.shutdown()
        // One like and one movie.added from the single posts, two events of each batch; no refused catalog event.
        let records = try await gateway.readBack(expecting: 6)
        #expect(records.count == 6)
        let types = records.compactMap { (try? Event.decode($0.value))?.type }
        #expect(types.filter { $0 == .movieAdded }.count == 1)
        #expect(!types.contains(.pollCreated))
    }

    @Test("auth_mode open (local runs only): catalog events are accepted without a key")
    func catalogInOpenMode() async throws {
        let gateway = try await Gateway {
            $0.authMode = .open
            $0.catalogProducers = []
        }
        let movieAdded = IngestGatewayTests.events(recent())[4]
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: json(movieAdded)) { response in
                #expect(response.status == .accepted, "\(String(buffer: response.body))")
            }
        }
        await gateway.shutdown()
    }

    @Test("a JSON batch is counted before it is parsed: one element over gateway.max_batch_events is 413 too_many_events, even when an element is not JSON")
    func batchCountedBeforeParse() async throws {
        let gateway = try await Gateway { $0.maximumBatchEvents = 5 }
        try await gateway.test { client in
            let tiny = "[" + Array(repeating: "0", count: 6).joined(separator: ",") + "]"
            // Not JSON in its last element: the count refuses it before the parser could.
            let malformed = "[" + Array(repeating: "0", count: 5).joined(separator: ",") + ",tru]"
            for batch in [tiny, malformed] {
                try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json(batch)) { response in
                    #expect(response.status == .contentTooLarge)
                    #expect(errorCode(response) == "too_many_events")
                    #expect(parsed(response)?["error"]?["message"]?.text?.contains("got 6") == true)
                }
            }
            // Within the limit, the parse says what is wrong.
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json("[0,tru]")) { response in
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "invalid_json")
            }
        }
        await gateway.shutdown()
    }

    @Test("a batch over its producer's rate is refused (429) before its body is parsed: invalid JSON from that key gets 429, not 400")
    func rateCheckedBeforeParse() async throws {
        // One token per 100 s: after the first batch the key's bucket stays empty for the test.
        let gateway = try await Gateway { $0.rateLimitPerSecond = 0.01; $0.rateLimitBurst = 2 }
        let like = IngestGatewayTests.events(recent())[1]
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json("[\(like),\(like)]")) { #expect($0.status == .ok) }
            let overRate: [(HTTPFields, String)] = [
                (jsonHeaders, #"[{"type":nope}]"#),  // counted (one element), not JSON
                (jsonHeaders, "{not json"),  // not even an array: charged as one event
                (ndjsonHeaders, "{not json"),
            ]
            for (headers, batch) in overRate {
                try await client.execute(uri: "/v1/events/batch", method: .post, headers: headers, body: json(batch)) { response in
                    #expect(response.status == .tooManyRequests, "\(batch): \(String(buffer: response.body))")
                    #expect(errorCode(response) == "rate_limited")
                }
            }
            // Another key's bucket is full: its invalid batch is parsed and refused for what it is.
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: interactionsJSONHeaders, body: json(#"[{"type":nope}]"#)) { response in
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "invalid_json")
            }
        }
        await gateway.shutdown()
    }

    @Test("concurrent posts of one new event_id: one record; every answer 202 with the same offset, all but one Idempotent-Replay; different content meanwhile is 409")
    func concurrentDuplicates() async throws {
        // Records wait 300 ms in the producer: the posts below all arrive while the first one is in flight.
        let gateway = try await Gateway { $0.producer.linger = .milliseconds(300) }
        let id = EventID.random()
        let event = #"{"event_id":"\#(id)","type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"\#(recent())"}"#
        let changed = event.replacingOccurrences(of: "\"m1\"", with: "\"m2\"")
        let posts = 8
        // (the changed event?, status, Idempotent-Replay or the error code, offset)
        let results = try await gateway.test { client in
            try await withThrowingTaskGroup(of: (Bool, HTTPResponse.Status, String?, String?).self) { group in
                for _ in 0..<posts {
                    group.addTask {
                        try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                            (false, response.status, response.headers[.init("Idempotent-Replay")!], parsed(response)?["offset"]?.text)
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(100))
                    return try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(changed)) { response in
                        (true, response.status, errorCode(response), nil)
                    }
                }
                var results: [(Bool, HTTPResponse.Status, String?, String?)] = []
                for try await result in group { results.append(result) }
                return results
            }
        }
        let answers = results.filter { !$0.0 }.map { (status: $0.1, replay: $0.2, offset: $0.3) }
        let conflict = results.first { $0.0 }
        #expect(answers.count == posts, "\(answers)")
        #expect(answers.allSatisfy { $0.status == .accepted }, "\(answers)")
        #expect(answers.filter { $0.replay == nil }.count == 1, "one publication, the others replays: \(answers)")
        #expect(Set(answers.map(\.offset)).count == 1, "\(answers)")
        #expect(conflict?.1 == .conflict && conflict?.2 == "event_id_conflict", "different content under an id in flight: \(String(describing: conflict))")
        await gateway.shutdown()
        let records = try await gateway.readBack(expecting: 1, timeout: .seconds(15))
        #expect(records.count == 1)
        #expect(records.allSatisfy { (try? Event.decode($0.value))?.eventID == id })
    }

    @Test("concurrent posts of one new event_id while the broker is unreachable: one publication, every answer the same 503; the id is released, so a retry publishes again")
    func concurrentDuplicatesShareAFailure() async throws {
        let gateway = try await Gateway(brokers: ["127.0.0.1:\(TestStack.freePort())"]) { $0.producer.deliveryTimeout = .seconds(3) }
        let id = EventID.random()
        let event = #"{"event_id":"\#(id)","type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"\#(recent())"}"#
        let posts = 8
        try await gateway.test { client in
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?, String?).self) { group in
                for _ in 0..<posts {
                    group.addTask {
                        try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                            (response.status, errorCode(response), parsed(response)?["error"]?["event_id"]?.text)
                        }
                    }
                }
                var answers: [(HTTPResponse.Status, String?, String?)] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            #expect(answers.count == posts)
            #expect(answers.allSatisfy { $0.0 == .serviceUnavailable && $0.1 == "broker_unavailable" && $0.2 == id }, "\(answers)")
            try await client.execute(uri: "/metrics", method: .get) { response in
                let samples = PrometheusSamples(String(buffer: response.body))
                #expect(samples.sum("streamrec_gateway_events_rejected_total", matching: ["reason": "broker_unavailable"]) == 1, "published once")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { #expect($0.status == .serviceUnavailable) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let samples = PrometheusSamples(String(buffer: response.body))
                #expect(samples.sum("streamrec_gateway_events_rejected_total", matching: ["reason": "broker_unavailable"]) == 2, "the retry was published again")
            }
        }
        await gateway.shutdown()
    }
}

@Suite("Ingest gateway: an event sent to a broker that stops answering", .serialized)
struct IngestOutcomeUnknownTests {
    @Test("broker frozen (SIGSTOP) with the connection up: the record is sent but unanswered, so the 503 is outcome_unknown with the event_id and the advice to retry with it; retried with that id once the broker answers again, it is accepted")
    func sentButUnanswered() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let gateway = try await Gateway(brokers: broker.bootstrapServers) {
            $0.producer.deliveryTimeout = .seconds(2)
            $0.readinessInterval = .milliseconds(100)
        }
        let pidText = try String(contentsOfFile: broker.runDirectory + "/pids/kafka.pid", encoding: .utf8)
        let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let id = EventID.random()
        let event = #"{"event_id":"\#(id)","type":"movie.like","user_id":"u7","item_id":"m7","occurred_at":"\#(recent())"}"#
        try await gateway.test { client in
            // Connected, the topic's partitions and the producer id known: the next record goes straight
            // onto the wire.
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(IngestGatewayTests.events(recent())[1])) {
                #expect($0.status == .accepted)
            }
            kill(pid, SIGSTOP)
            defer { kill(pid, SIGCONT) }
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                let error = parsed(response)?["error"]
                #expect(error?["code"]?.text == "outcome_unknown", "\(String(buffer: response.body))")
                #expect(error?["event_id"]?.text == id)
                #expect(error?["message"]?.text?.contains("same event_id") == true)
            }
            kill(pid, SIGCONT)
            // The failed attempt released the id: the retry is published (not waiting, not a replay).
            var status: HTTPResponse.Status = .serviceUnavailable
            let deadline = ContinuousClock.now + .seconds(30)
            while status != .accepted, ContinuousClock.now < deadline {
                await gateway.readiness.check()
                status = try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { $0.status }
            }
            #expect(status == .accepted)
        }
        await gateway.shutdown()
    }
}

@Suite("Counting a JSON batch before parsing it")
struct JSONArrayCountTests {
    static func count(_ text: String) -> Int? { IngestService.jsonArrayCount(Array(text.utf8)) }

    @Test("only top-level elements count: a nested array or object is one element")
    func nesting() {
        #expect(Self.count("[]") == 0)
        #expect(Self.count(" \n[ \t]\r\n") == 0)
        #expect(Self.count("[1]") == 1)
        #expect(Self.count(" [1, 2 ,3] ") == 3)
        #expect(Self.count(#"[[1,2],[3,[4,5]],{"a":[6,7],"b":{"c":[8,{"d":9}]}}]"#) == 3)
        #expect(Self.count("[[],{},[[]],[{}]]") == 4)
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(Self.count(deep) == 1)
    }

    @Test("commas, brackets, braces and escaped quotes inside strings do not count")
    func strings() {
        #expect(Self.count(#"["a,b","[","]","{","}"]"#) == 5)
        #expect(Self.count(#"["say \"hi, there\"", "x"]"#) == 2)
        #expect(Self.count(#"["back\\", "slash\\\\", ","]"#) == 3)
        #expect(Self.count(#"[{"k":"],[,{"},"\"]\""]"#) == 2)
        #expect(Self.count(#"["\u005d,\u005b", {"\"": ",]"}]"#) == 2)
    }

    @Test("for arrays the parser accepts, the count is their element count")
    func agreesWithTheParser() throws {
        let events = IngestGatewayTests.events(recent())
        let bodies = [
            "[]", "[1]", "[" + events.joined(separator: ",") + "]", " [ " + events.joined(separator: " ,\n ") + " ] ",
            #"[[1,2],[3,[4,5]],{"a":[6,7],"b":{"c":[8,{"d":9}]}}]"#, #"["a,b","[","]","{","}"]"#,
            #"["say \"hi, there\"", "x"]"#, #"["back\\", "slash\\\\", ","]"#, #"[{"k":"],[,{"},"\"]\""]"#,
            #"[null,true,false,-1.5e3,"",{},[]]"#,
        ]
        for body in bodies {
            guard case .array(let elements) = try JSONParser.parse(Array(body.utf8)) else {
                Issue.record("not an array: \(body)")
                continue
            }
            #expect(Self.count(body) == elements.count, "\(body)")
        }
    }

    @Test("no well-formed array: nil (the parser refuses those too); only the structure is checked, so a malformed element still counts")
    func malformed() {
        for body in ["", "   ", "{}", #"{"a":[1,2]}"#, #""[1,2]""#, "1", "]", "[1,2", #"["abc]"#, #"["abc\"]"#, "[1,2]x", "[1,2}", "[1] [2]", "[{]", "[1,\"\\"] {
            #expect(Self.count(body) == nil, "\(body)")
        }
        #expect(Self.count("[1,tru]") == 2)
        #expect(Self.count("[{not json}, 7]") == 2)
    }
}

@Suite("Gateway configuration: catalog producers")
struct CatalogProducersConfigurationTests {
    static let apiKeys = "importer:importer-key-0123456789,app:app-key-0123456789abcdef"

    static func configuration(_ environment: [String: String]) throws -> IngestConfiguration {
        try IngestConfiguration(reading: ConfigReader(keys: IngestConfiguration.Keys.all, fileValues: [:], environment: environment, source: "test"))
    }

    @Test("gateway.catalog_producers names keys of gateway.api_keys (none by default); a name no key has stops the start; open mode allows everyone")
    func catalogProducers() throws {
        let defaults = try Self.configuration(["STREAMREC_GATEWAY_API_KEYS": Self.apiKeys])
        #expect(defaults.catalogProducers.isEmpty)
        let named = try Self.configuration(["STREAMREC_GATEWAY_API_KEYS": Self.apiKeys, "STREAMREC_GATEWAY_CATALOG_PRODUCERS": " importer "])
        #expect(named.catalogProducers == ["importer"])
        #expect(throws: ConfigurationError.self) {
            try Self.configuration(["STREAMREC_GATEWAY_API_KEYS": Self.apiKeys, "STREAMREC_GATEWAY_CATALOG_PRODUCERS": "importr"])
        }

        let authenticator = ProducerAuthenticator(mode: .apiKey, keys: named.apiKeys, catalogProducers: named.catalogProducers)
        #expect(authenticator.maySendCatalog("importer"))
        #expect(!authenticator.maySendCatalog("app"))
        let openMode = ProducerAuthenticator(mode: .open, keys: [:])
        #expect(openMode.maySendCatalog("open"))
    }
}
