import Foundation

/// A throw-away certificate authority made with `openssl` for one test: its certificate, a server
/// certificate for `localhost` and `127.0.0.1` signed by it, and a client certificate. Everything lives in a
/// temporary directory that ``remove()`` deletes; nothing is trusted anywhere else.
public final class TestCertificateAuthority: Sendable {
    public let directory: String
    /// The CA's certificate (PEM): what a client trusts.
    public var caFile: String { directory + "/ca.pem" }
    /// The server's certificate (PEM; subject alternative names: DNS localhost, IP 127.0.0.1) and key.
    public var serverCertificateFile: String { directory + "/server.pem" }
    public var serverKeyFile: String { directory + "/server.key" }
    /// A client certificate (CN streamrec-client) and its key.
    public var clientCertificateFile: String { directory + "/client.pem" }
    public var clientKeyFile: String { directory + "/client.key" }

    public init(name: String = "StreamRec test CA") throws {
        directory = NSTemporaryDirectory() + "streamrec-ca-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=\(name)"])
        try issue("server", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        try issue("client", subject: "/CN=streamrec-client", extensions: "extendedKeyUsage=clientAuth\n")
    }

    /// Deletes the directory with every key in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func issue(_ name: String, subject: String, extensions: String) throws {
        try extensions.write(toFile: "\(directory)/\(name).ext", atomically: true, encoding: .utf8)
        try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
        try run([
            "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem", "-days", "2",
            "-extfile", "\(name).ext",
        ])
    }

    private func run(_ arguments: [String]) throws {
        let (status, output) = try TestStack.spawnAndWait(["/bin/sh", "-c", "cd \"$0\" && exec openssl \"$@\"", directory] + arguments, environment: ProcessInfo.processInfo.environment)
        guard status == 0 else { throw TestStack.NotRunning(description: "openssl \(arguments.joined(separator: " ")) failed (\(status)): \(output)") }
    }
}
