import Foundation
import ServiceSupport
import StackTestSupport
import Testing

/// Every built binary's command line: `--help` prints usage and exits 0 at once (a service does not start
/// serving), `--version` prints the one version, an unknown option exits 64 (EX_USAGE) with a message.
/// No stack needed: none of these gets as far as reading its configuration.
@Suite("binaries' command lines")
struct CommandLineTests {
    static let binaries = ["ingest-gateway", "stream-processor", "inference-api", "trainer", "loadgen", "streamrec-bench"]

    /// Runs a binary with a deadline: a service that started serving would be killed and fail the test.
    func run(_ binary: String, _ arguments: [String]) throws -> (status: Int32, output: String, seconds: Double) {
        let started = Date()
        let (status, output) = try TestStack.spawnAndWait(["/usr/bin/timeout", "-s", "KILL", "10", TestStack.executable(binary)] + arguments, environment: [:])
        return (status, output, Date().timeIntervalSince(started))
    }

    @Test("--help: usage, exit 0, within a few seconds", arguments: binaries)
    func help(binary: String) throws {
        let (status, output, seconds) = try run(binary, ["--help"])
        #expect(status == 0, "\(binary) --help exited \(status): \(output)")
        #expect(output.lowercased().contains("usage"), "\(binary) --help printed: \(output)")
        #expect(seconds < 5, "\(binary) --help took \(seconds) s")
        if ["ingest-gateway", "stream-processor", "inference-api"].contains(binary) {
            #expect(output.contains("--help-config") && output.contains("--config-template") && output.contains("configs/\(binary).conf"))
        }
    }

    @Test("--version: the build's version, exit 0", arguments: binaries)
    func version(binary: String) throws {
        let (status, output, _) = try run(binary, ["--version"])
        #expect(status == 0, "\(binary) --version exited \(status): \(output)")
        #expect(output.contains(BuildInfo.version), "\(binary) --version printed: \(output)")
    }

    @Test("an unknown option: exit 64 with a message", arguments: binaries)
    func unknownOption(binary: String) throws {
        let (status, output, _) = try run(binary, ["--no-such-option"])
        #expect(status == 64, "\(binary) --no-such-option exited \(status): \(output)")
        #expect(output.contains("no-such-option"), "\(binary) said: \(output)")
    }

    @Test("misspelt options, a missing benchmark name and extra service arguments are refused, not ignored")
    func misspellings() throws {
        #expect(try run("trainer", ["list", "--domian", "movies"]).status == 64)
        #expect(try run("loadgen", ["--rat", "500"]).status == 64)
        #expect(try run("streamrec-bench", ["redis", "--prot", "1"]).status == 64)
        #expect(try run("streamrec-bench", ["no-such-benchmark"]).status == 64)
        #expect(try run("streamrec-bench", []).status == 64, "no benchmark named")
        #expect(try run("ingest-gateway", ["--help-config", "--extra"]).status == 64)
    }
}
