import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StackTestSupport
import Testing

/// The request deadline of every service (`http.request_read_timeout`), on a live server.
@Suite("HTTP request deadline")
struct RequestReadDeadlineTests {
    static func app(deadline: Duration) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: ErrorAndRequestIDMiddleware())
        // Answers 415 before reading the body for anything but JSON; otherwise reads the body first.
        router.post("/echo") { request, _ -> Response in
            var request = request
            guard request.mediaType == "application/json" else {
                throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send application/json")
            }
            let body = try await request.collectBody(limit: 1 << 20)
            return Response(status: .ok, body: .init(byteBuffer: body))
        }
        router.get("/slow") { _, _ -> String in
            try await Task.sleep(for: deadline * 2)
            return "done"
        }
        return Application(
            router: router, server: HTTPServerSettings.server(idleTimeout: .seconds(30), requestReadTimeout: deadline),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
    }

    static let trickledHead = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"

    @Test("a body trickled a byte a second is cut at the deadline, also after a request answered before its body was read; a route slower than the deadline is not cut off")
    func deadline() async throws {
        try await Self.app(deadline: .seconds(2)).test(.live) { client in
            let port = try #require(client.port)
            async let plain = SlowClient.trickleOnItsOwnThread(port: port, head: Self.trickledHead, interval: .seconds(1), timeout: .seconds(15))
            // The first request is answered (415) before its body is read; the second trickles.
            async let afterEarlyAnswer = SlowClient.trickleOnItsOwnThread(
                port: port, preamble: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n", bodyOfPreamble: "x",
                head: Self.trickledHead, interval: .seconds(1), timeout: .seconds(15)
            )
            // Twice the deadline to answer: the connection stays open for the answer.
            try await client.execute(uri: "/slow", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "done")
            }
            let (first, second) = await (plain, afterEarlyAnswer)
            let closed = try #require(first, "the trickled request was still open after 15 s")
            #expect(closed >= .milliseconds(1900) && closed < .seconds(6), "closed after \(closed)")
            let closedAfterEarlyAnswer = try #require(second, "after an early answer, the next request trickled for 15 s")
            #expect(closedAfterEarlyAnswer < .seconds(6), "closed after \(closedAfterEarlyAnswer)")
        }
    }
}
