import Events
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Kafka
import StackTestSupport
import Testing

@Suite("Ingest gateway against the local broker")
struct IngestGatewayTests {
    static func events(_ at: String) -> [String] {
        [
            #"{"type":"movie.rating","user_id":"u1","item_id":"m1","occurred_at":"\#(at)","value":4.5}"#,
            #"{"type":"movie.like","user_id":"u1","item_id":"m2","occurred_at":"\#(at)"}"#,
            #"{"type":"movie.dislike","user_id":"u2","item_id":"m1","occurred_at":"\#(at)"}"#,
            #"{"type":"movie.view","user_id":"u2","item_id":"m3","occurred_at":"\#(at)","watch_seconds":30}"#,
            #"{"type":"movie.added","user_id":"editor","item_id":"m9","occurred_at":"\#(at)","title":"Toy Story","year":1995,"genres":["Animation"]}"#,
            #"{"type":"poll.impression","user_id":"u3","poll_id":"p1","occurred_at":"\#(at)"}"#,
            #"{"type":"poll.expand","user_id":"u3","poll_id":"p1","occurred_at":"\#(at)"}"#,
            #"{"type":"poll.vote","user_id":"u3","poll_id":"p1","occurred_at":"\#(at)","option_id":"a"}"#,
            #"{"type":"poll.share","user_id":"u4","poll_id":"p1","occurred_at":"\#(at)","context":{"device":"ios","country":"FR"}}"#,
            #"{"type":"poll.created","user_id":"u5","poll_id":"p2","occurred_at":"\#(at)","question":"Tea or coffee?","category":"food","options":[{"id":"t","text":"Tea"},{"id":"c","text":"Coffee"}]}"#,
        ]
    }

    @Test("configs/openapi/ingest-gateway.yaml describes exactly the routes the gateway serves")
    func openAPIMatchesTheRouter() async throws {
        let gateway = try await Gateway()
        let served = Set(IngestApplication.router(service: gateway.service, readiness: gateway.readiness, metrics: gateway.metrics).routes.map { "\($0.method) \($0.path)" })
        let documented = try OpenAPIPaths.operations(file: "configs/openapi/ingest-gateway.yaml")
        #expect(served.subtracting(documented).isEmpty, "served but not documented")
        #expect(documented.subtracting(served).isEmpty, "documented but not served")
        #expect(served.count >= 5)
        await gateway.shutdown()
    }

    @Test("CORS: only listed origins get a preflight answer and Access-Control-Allow-Origin; others get none")
    func corsForListedOrigins() async throws {
        let gateway = try await Gateway { $0.corsOrigins = ["http://127.0.0.1:8082"] }
        try await gateway.test { client in
            try await client.execute(
                uri: "/v1/events", method: .options,
                headers: [.origin: "http://127.0.0.1:8082", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type,x-api-key"]
            ) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == "http://127.0.0.1:8082")
                #expect(response.headers[.accessControlAllowHeaders]?.contains("X-API-Key") == true)
            }
            try await client.execute(
                uri: "/v1/events", method: .options, headers: [.origin: "http://evil.example", .accessControlRequestMethod: "POST"]
            ) { response in
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
            // A real request from the listed origin: still authenticated, answered with the header.
            try await client.execute(uri: "/v1/events", method: .post, headers: [.origin: "http://127.0.0.1:8082", .contentType: "application/json"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.accessControlAllowOrigin] == "http://127.0.0.1:8082")
            }
        }
        await gateway.shutdown()
    }

    @Test("slow-loris: a client that stalls mid-body is disconnected after http.idle_timeout")
    func stalledClientIsDisconnected() async throws {
        let gateway = try await Gateway()
        let app = Application(
            router: IngestApplication.router(service: gateway.service, readiness: gateway.readiness, metrics: gateway.metrics),
            server: HTTPServerSettings.server(idleTimeout: .seconds(1)), configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Headers promise 1000 bytes of body; 10 arrive, then nothing (on a thread of its own: blocking I/O).
            let closedAfter: Duration? = await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(returning: Self.stallAndWaitForClose(port: port, timeout: .seconds(10)))
                }
            }
            let elapsed = try #require(closedAfter, "the server kept the stalled connection open for 10 s")
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(5), "closed after \(elapsed)")
        }
        await gateway.shutdown()
    }

    /// Sends a request whose body never completes; returns how long until the server closed the
    /// connection (nil: still open at `timeout`).
    static func stallAndWaitForClose(port: Int, timeout: Duration) -> Duration? {
        let partial = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: \(producerKey)\r\nContent-Length: 1000\r\n\r\n{\"type\":\"m"
        // Nothing more is sent before `timeout`: the interval is the whole wait.
        return SlowClient.trickle(port: port, head: partial, interval: timeout, timeout: timeout)
    }

    @Test("every event type is accepted (202 after the broker's ack) and is readable back with key, headers and value")
    func everyTypeRoundTrips() async throws {
        let gateway = try await Gateway()
        let at = recent()
        let accepted = try await gateway.test { client in
            var accepted: [(String, JSONValue)] = []
            for event in Self.events(at) {
                try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                    #expect(response.status == .accepted, "\(String(buffer: response.body))")
                    accepted.append((event, try body(response)))
                }
            }
            return accepted
        }
        await gateway.shutdown()
        let records = try await gateway.readBack(expecting: 10)
        #expect(records.count == 10)
        for (sent, answer) in accepted {
            let eventID = try #require(answer["event_id"]?.text)
            let record = try #require(records.first { (try? Event.decode($0.value))?.eventID == eventID })
            let expected = try EventValidator().validate(bytes: Array(sent.utf8), now: EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))) { eventID }.get()
            #expect(record.value == expected.canonicalJSON(), "value is the canonical JSON")
            #expect(record.key == Array(expected.userID.utf8), "key is user_id")
            #expect(record.topic == gateway.configuration.topics.topic(for: expected.domain))
            #expect(record.header("schema-version")?.stringValue == "1")
            #expect(record.header("event-type")?.stringValue == expected.type.rawValue)
            #expect(record.header("content-type")?.stringValue == "application/json")
            #expect(answer["partition"]?.text == String(record.partition) && answer["offset"]?.text == String(record.offset))
        }
    }

    @Test("invalid events get 400 with code and field, and nothing of them is written")
    func validationErrors() async throws {
        let gateway = try await Gateway()
        let at = recent()
        try await gateway.test { client in
            let cases: [(String, String, String?)] = [
                (#"{"type":"movie.rating","user_id":"u1","item_id":"m1","occurred_at":"\#(at)","value":9}"#, "out_of_range", "value"),
                (#"{"type":"movie.like","user_id":"u1","occurred_at":"\#(at)"}"#, "missing_field", "item_id"),
                (#"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"\#(at)","extra":1}"#, "unknown_field", "extra"),
                (#"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2099-01-01T00:00:00Z"}"#, "in_future", "occurred_at"),
                (#"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"2001-01-01T00:00:00Z"}"#, "too_old", "occurred_at"),
                (#"{"type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"\#(at)""#, "invalid_json", nil),
                (#"[1,2]"#, "not_an_object", nil),
            ]
            for (event, code, field) in cases {
                try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                    #expect(response.status == .badRequest)
                    let error = try body(response)["error"]
                    #expect(error?["code"]?.text == code, "\(event)")
                    #expect(error?["field"]?.text == field)
                    #expect(error?["message"]?.text?.isEmpty == false)
                    #expect(response.headers[.init("X-Request-ID")!] != nil)
                }
            }
            // One valid event after all the invalid ones: the topic holds exactly it.
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(Self.events(at)[1])) { response in
                #expect(response.status == .accepted)
            }
        }
        await gateway.shutdown()
        let records = try await gateway.readBack(expecting: 1, timeout: .seconds(15))
        #expect(records.count == 1)
    }

    @Test("a retried event_id gets the same answer without a second write; different content under it is a 409")
    func idempotentRetries() async throws {
        let gateway = try await Gateway()
        let at = recent()
        let id = UUID().uuidString.lowercased()
        let event = #"{"event_id":"\#(id)","type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"\#(at)"}"#
        try await gateway.test { client in
            let first = try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { try body($0) }
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                #expect(response.status == .accepted)
                let replayed = try body(response)
                #expect(replayed == first)
                #expect(response.headers[.init("Idempotent-Replay")!] == "true")
            }
            let changed = event.replacingOccurrences(of: "\"m1\"", with: "\"m2\"")
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(changed)) { response in
                #expect(response.status == .conflict)
                #expect(errorCode(response) == "event_id_conflict")
            }
        }
        await gateway.shutdown()
        #expect(try await gateway.readBack(expecting: 1, timeout: .seconds(15)).count == 1)
    }

    @Test("the same event_id twice in one batch is written once; different content under it is refused")
    func duplicatesWithinBatch() async throws {
        let gateway = try await Gateway()
        let at = recent()
        let id = EventID.random()
        let same = #"{"event_id":"\#(id)","type":"movie.like","user_id":"u1","item_id":"m1","occurred_at":"\#(at)"}"#
        let other = same.replacingOccurrences(of: "\"m1\"", with: "\"m2\"")
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json("[\(same),\(same),\(other)]")) { response in
                #expect(response.status == .ok)
                let result = parsed(response)
                #expect(result?["results"]?[0]?["status"]?.text == "accepted")
                #expect(result?["results"]?[1]?["status"]?.text == "accepted")
                #expect(result?["results"]?[1]?["replay"] == .bool(true))
                #expect(result?["results"]?[1]?["offset"]?.text == result?["results"]?[0]?["offset"]?.text)
                #expect(result?["results"]?[2]?["error"]?["code"]?.text == "event_id_conflict")
            }
        }
        await gateway.shutdown()
        #expect(try await gateway.readBack(expecting: 1, timeout: .seconds(15)).count == 1)
    }

    @Test("a restarted gateway finds its topics already there and is ready")
    func readyWithExistingTopics() async throws {
        let first = try await Gateway()
        await first.shutdown()
        let second = try await Gateway { $0.topics = first.configuration.topics }
        #expect(second.readiness.checks().allSatisfy { $0.1 == nil }, "\(second.readiness.checks())")
        await second.shutdown()
    }

    @Test("a batch with valid and invalid events writes the valid ones and reports each by index")
    func mixedBatch() async throws {
        let gateway = try await Gateway()
        let at = recent()
        let good = Self.events(at)
        let array = "[" + [good[0], #"{"type":"movie.like"}"#, good[5], #"{"type":"poll.vote","user_id":"u","poll_id":"p","occurred_at":"\#(at)"}"#].joined(separator: ",") + "]"
        let ndjson = [good[1], "{not json", "", good[7], #"{"type":"nope","user_id":"u","item_id":"m","occurred_at":"\#(at)"}"#].joined(separator: "\n") + "\n"
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json(array)) { response in
                #expect(response.status == .ok)
                let result = try body(response)
                #expect(result["accepted"]?.text == "2" && result["rejected"]?.text == "2")
                #expect(result["results"]?[0]?["status"]?.text == "accepted")
                #expect(result["results"]?[1]?["error"]?["code"]?.text == "missing_field")
                #expect(result["results"]?[1]?["error"]?["field"]?.text == "user_id")
                #expect(result["results"]?[2]?["status"]?.text == "accepted")
                #expect(result["results"]?[3]?["error"]?["field"]?.text == "option_id")
            }
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: ndjsonHeaders, body: json(ndjson)) { response in
                #expect(response.status == .ok)
                let result = try body(response)
                #expect(result["accepted"]?.text == "2" && result["rejected"]?.text == "2")
                #expect(result["results"]?[1]?["error"]?["code"]?.text == "invalid_json")
                #expect(result["results"]?[3]?["error"]?["code"]?.text == "unknown_type")
            }
        }
        await gateway.shutdown()
        #expect(try await gateway.readBack(expecting: 4, timeout: .seconds(15)).count == 4)
    }

    @Test("hostile bodies are refused cleanly: too large, truncated, not UTF-8, 10k-deep, wrong type, too many events")
    func hostileBodies() async throws {
        let gateway = try await Gateway { $0.maximumEventBytes = 4096; $0.maximumBatchEvents = 3 }
        let at = recent()
        try await gateway.test { client in
            let huge = #"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"\#(at)","pad":""# + String(repeating: "x", count: 10_000) + #""}"#
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(huge)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(errorCode(response) == "payload_too_large")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(#"{"type":"movie.like","user_id":"#)) { response in
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "invalid_json")
            }
            var latin1 = ByteBuffer(string: #"{"type":"movie.like","user_id":"caf"#)
            latin1.writeBytes([0xE9])
            latin1.writeString(#"","item_id":"m","occurred_at":"\#(at)"}"#)
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: latin1) { response in
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "invalid_utf8")
            }
            let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json(deep)) { response in
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "too_deep")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "text/plain", .init("X-API-Key")!: producerKey], body: json("{}")) { response in
                #expect(response.status == .unsupportedMediaType)
                #expect(errorCode(response) == "unsupported_media_type")
            }
            let four = "[" + Array(repeating: Self.events(at)[1], count: 4).joined(separator: ",") + "]"
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json(four)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(errorCode(response) == "too_many_events")
            }
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: jsonHeaders, body: json("[]")) { response in
                #expect(response.status == .badRequest)
            }
        }
        await gateway.shutdown()
    }

    @Test("producers need a valid API key (X-API-Key or Bearer); 401 without, 403 with a wrong one")
    func authentication() async throws {
        let gateway = try await Gateway()
        let event = Self.events(recent())[1]
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: json(event)) { response in
                #expect(response.status == .unauthorized)
                #expect(errorCode(response) == "missing_api_key")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json", .init("X-API-Key")!: producerKey + "x"], body: json(event)) { response in
                #expect(response.status == .forbidden)
                #expect(errorCode(response) == "invalid_api_key")
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(producerKey)"], body: json(event)) { response in
                #expect(response.status == .accepted)
            }
        }
        await gateway.shutdown()
    }

    @Test("a producer over its rate gets 429 with Retry-After")
    func rateLimit() async throws {
        // A slow refill (one token per 100 s), so the test does not depend on how long the first two take
        // (seconds, on a loaded machine, while the producer warms up).
        let gateway = try await Gateway { $0.rateLimitPerSecond = 0.01; $0.rateLimitBurst = 2 }
        let event = Self.events(recent())[1]
        try await gateway.test { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { #expect($0.status == .accepted) }
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(errorCode(response) == "rate_limited")
                let retryAfter = response.headers[.retryAfter].flatMap { Int($0) } ?? 0
                #expect((50...100).contains(retryAfter), "Retry-After \(retryAfter) s for a token every 100 s")
            }
        }
        await gateway.shutdown()
    }

    @Test("a scrape of /metrics alone samples the producer queue depth")
    func queueDepthAtScrape() async throws {
        // No broker: a published event stays in the producer's queue until shutdown purges it.
        let gateway = try await Gateway(brokers: ["127.0.0.1:\(TestStack.freePort())"]) { $0.producer.deliveryTimeout = .seconds(60) }
        let event = try EventValidator().validate(bytes: Array(Self.events(recent())[1].utf8), now: gateway.service.now) { EventID.random() }.get()
        let pending = Task { await gateway.service.ingest([.success(event)], producer: "tests") }
        try await Task.sleep(for: .milliseconds(200))
        try await gateway.test { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("streamrec_gateway_producer_queue_depth 1"))
            }
        }
        await gateway.shutdown()
        _ = await pending.value
    }

    @Test("health, readiness and Prometheus metrics")
    func operationalEndpoints() async throws {
        let gateway = try await Gateway { $0.readinessInterval = .seconds(5) }
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(Self.events(recent())[0])) { #expect($0.status == .accepted) }
            // Refusals are counted by the type the event declared (unknown when none) and the reason.
            let badRating = Self.events(recent())[0].replacingOccurrences(of: #""value":4.5"#, with: #""value":7"#)
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(badRating)) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json("{not json")) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            await gateway.readiness.check()  // what the readiness service does every interval
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(parsed(response)?["status"]?.text == "ready")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"streamrec_gateway_events_accepted_total{type="movie.rating"} 1"#))
                #expect(text.contains(#"streamrec_gateway_events_rejected_total{type="movie.rating",reason="out_of_range"} 1"#))
                #expect(text.contains(#"streamrec_gateway_events_rejected_total{type="unknown",reason="invalid_json"} 1"#))
                #expect(text.contains("streamrec_gateway_in_flight_events 0"))
                #expect(text.contains("streamrec_gateway_produce_duration_seconds_bucket"))
                #expect(text.contains("streamrec_gateway_producer_queue_depth"))
            }
        }
        await gateway.shutdown()
    }
}

@Suite("Ingest gateway when the broker goes away", .serialized)
struct IngestGatewayOutageTests {
    @Test("the producer's queue full: the events that do not fit are 503 `backpressure` with Retry-After, counted as such; none is lost silently")
    func backpressureOverHTTP() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let gateway = try await Gateway(brokers: broker.bootstrapServers) {
            $0.producer.queueMaxMessages = 2
            $0.producer.deliveryTimeout = .seconds(2)
        }
        try await gateway.test { client in
            try broker.stop()  // nothing leaves the queue now
            let batch = IngestGatewayTests.events(recent())[1..<6].joined(separator: "\n")
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: ndjsonHeaders, body: json(batch)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                let result = try body(response)
                #expect(result["accepted"]?.text == "0" && result["unavailable"]?.text == "5")
                let codes = (0..<5).compactMap { result["results"]?[$0]?["error"]?["code"]?.text }
                #expect(codes.filter { $0 == "backpressure" }.count == 3, "\(codes)")  // two fit in the queue, then time out
                #expect(codes.filter { $0 == "broker_unavailable" }.count == 2, "\(codes)")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let samples = PrometheusSamples(String(buffer: response.body))
                #expect(samples.sum("streamrec_gateway_events_rejected_total", matching: ["reason": "backpressure"]) == 3)
                #expect(samples.sum("streamrec_gateway_events_rejected_total", matching: ["reason": "broker_unavailable"]) == 2)
            }
        }
        await gateway.shutdown()
    }

    @Test("overload with the broker up (a one-record queue held for a second): the posts that do not fit are 503 backpressure with Retry-After and their event_id; the producer is never replaced (that would purge what is in flight)")
    func overloadIsNotAStuckProducer() async throws {
        let gateway = try await Gateway {
            $0.producer.queueMaxMessages = 1
            $0.producer.linger = .seconds(1)  // the one queued record waits: every other post finds the queue full
        }
        let statuses = try await gateway.test { client in
            try await withThrowingTaskGroup(of: (Int, String?, String?).self) { group in
                for index in 0..<12 {
                    let event = IngestGatewayTests.events(recent())[index % 5]
                    group.addTask {
                        try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                            let error = try? body(response)["error"]
                            if response.status == .serviceUnavailable { #expect(response.headers[.retryAfter] != nil) }
                            return (Int(response.status.code), error?["code"]?.text, error?["event_id"]?.text)
                        }
                    }
                }
                var statuses: [(Int, String?, String?)] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
        }
        #expect(statuses.filter { $0.0 == 202 }.count >= 1, "\(statuses)")
        let refused = statuses.filter { $0.0 != 202 }
        #expect(refused.count >= 3, "\(statuses)")
        #expect(refused.allSatisfy { $0.0 == 503 && $0.1 == "backpressure" && $0.2?.count == 36 }, "\(statuses)")
        // What the readiness loop does every interval: the broker is reachable, so a stuck producer would be replaced now.
        await gateway.readiness.check()
        #expect(gateway.producers.replacements == 0)
        await gateway.shutdown()
    }

    @Test("broker stopped: 503 with Retry-After within the delivery timeout, never a 2xx for an unconfirmed event; a batch reports each event (replay accepted, new unavailable, invalid rejected); broker back: accepted again")
    func brokerOutage() async throws {
        let broker = try PrivateBroker()
        defer { try? broker.remove() }
        let gateway = try await Gateway(brokers: broker.bootstrapServers) {
            $0.producer.deliveryTimeout = .seconds(2)
            $0.readinessInterval = .milliseconds(100)
        }
        // Accepted before the outage with an id of its own: resent during the outage, it is an idempotent replay.
        let acceptedBefore = IngestGatewayTests.events(recent())[1].replacingOccurrences(of: #"{"type""#, with: #"{"event_id":"\#(EventID.random())","type""#)
        try await gateway.test { client in
            try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(acceptedBefore)) {
                #expect($0.status == .accepted)
            }
            try broker.stop()
            for index in 0..<3 {
                let started = ContinuousClock.now
                let event = IngestGatewayTests.events(recent())[index]
                try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(event)) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(errorCode(response) == "broker_unavailable")
                    #expect(response.headers[.retryAfter] != nil)
                }
                #expect(ContinuousClock.now - started < .seconds(10), "answered after the 2 s delivery timeout, not a hang")
            }
            // A batch during the outage: what was confirmed before is still reported accepted (replay), the new
            // event is `unavailable` (retry it), the invalid one `rejected`; something is accepted, so 200 with
            // Retry-After for the rest.
            let badRating = IngestGatewayTests.events(recent())[0].replacingOccurrences(of: #""value":4.5"#, with: #""value":7"#)
            let mixed = [acceptedBefore, IngestGatewayTests.events(recent())[3], badRating].joined(separator: "\n")
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: ndjsonHeaders, body: json(mixed)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.retryAfter] != nil)
                let result = try body(response)
                #expect(result["accepted"]?.text == "1" && result["unavailable"]?.text == "1" && result["rejected"]?.text == "1")
                #expect(result["results"]?[0]?["status"]?.text == "accepted" && result["results"]?[0]?["replay"] == .bool(true))
                #expect(result["results"]?[1]?["status"]?.text == "unavailable")
                #expect(result["results"]?[1]?["error"]?["code"]?.text == "broker_unavailable")
                #expect(result["results"]?[2]?["status"]?.text == "rejected")
                #expect(result["results"]?[2]?["error"]?["field"]?.text == "value")
            }
            // Nothing confirmed: the batch as a whole is 503 with Retry-After, every event `unavailable`.
            let fresh = [IngestGatewayTests.events(recent())[4], IngestGatewayTests.events(recent())[5]].joined(separator: "\n")
            try await client.execute(uri: "/v1/events/batch", method: .post, headers: ndjsonHeaders, body: json(fresh)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                let result = try body(response)
                #expect(result["accepted"]?.text == "0" && result["unavailable"]?.text == "2")
                #expect(result["results"]?[0]?["status"]?.text == "unavailable" && result["results"]?[1]?["status"]?.text == "unavailable")
            }
            await gateway.readiness.check()
            try await Task.sleep(for: .milliseconds(400))
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }

            // The local broker restarts empty (memory storage): the readiness loop recreates the topics,
            // and the producer, stuck with a producer id the broker forgot, is replaced.
            try broker.start()
            var status: HTTPResponse.Status = .serviceUnavailable
            let deadline = ContinuousClock.now + .seconds(30)
            while status != .accepted, ContinuousClock.now < deadline {
                await gateway.readiness.check()
                status = try await client.execute(uri: "/v1/events", method: .post, headers: jsonHeaders, body: json(IngestGatewayTests.events(recent())[2])) { $0.status }
            }
            #expect(status == .accepted)
            #expect(gateway.producers.replacements >= 1)
        }
        await gateway.shutdown()
    }
}
