#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A client that sends a request slowly, with blocking sockets: call it from a thread of its own.
public enum SlowClient {
    /// ``trickle(port:preamble:head:interval:timeout:)`` on a thread of its own: its blocking socket calls
    /// must not hold one of the few threads of Swift's cooperative pool (on a 2-core machine, two such
    /// calls there starve the server under test).
    public static func trickleOnItsOwnThread(
        port: Int, preamble: String = "", bodyOfPreamble: String = "", head: String, interval: Duration, timeout: Duration
    ) async -> Duration? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: trickle(port: port, preamble: preamble, bodyOfPreamble: bodyOfPreamble, head: head, interval: interval, timeout: timeout))
            }
        }
    }

    /// Sends `preamble` (requests, answered and ignored), after half a second `bodyOfPreamble` (the rest
    /// of the preamble's last request, so that it can be answered before its body arrives), then `head`
    /// (request line and headers, ending in an empty line), then one body byte every `interval`; returns
    /// how long after connecting the server closed the connection, or nil if it was still open after
    /// `timeout` (or the connection failed).
    public static func trickle(port: Int, preamble: String = "", bodyOfPreamble: String = "", head: String, interval: Duration, timeout: Duration) -> Duration? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = TestStack.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        let started = ContinuousClock.now
        if !bodyOfPreamble.isEmpty {
            _ = preamble.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            usleep(500_000)
        }
        _ = ((bodyOfPreamble.isEmpty ? preamble : bodyOfPreamble) + head).withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        // Wait for the close in slices of `interval`, sending a byte after each.
        let slice = interval.components
        var wait = timeval(tv_sec: Int(slice.seconds), tv_usec: Int(slice.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - started < timeout {
            let received = recv(fd, &buffer, buffer.count, 0)
            if received == 0 || (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return ContinuousClock.now - started }
            if received < 0 {
                var byte: UInt8 = UInt8(ascii: " ")
                if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) < 0 { return ContinuousClock.now - started }
            }
        }
        return nil
    }
}
