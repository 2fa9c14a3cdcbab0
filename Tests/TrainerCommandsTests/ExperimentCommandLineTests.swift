import ArgumentParser
@testable import TrainerCommands
import Testing

/// `trainer experiment start|stop|status`: parsed and validated without the binary or a database.
@Suite("trainer experiment: command line")
struct ExperimentCommandLineTests {
    @Test("start with arms and share; stop and status by id")
    func parses() throws {
        let start = try #require(
            try TrainerCommand.parseAsRoot(["experiment", "start", "exp-1", "--domain", "polls", "--challenger", "popular", "--share", "0.25"]) as? ExperimentCommand.Start)
        #expect(start.id == "exp-1" && start.domain == "polls" && start.control == "production" && start.challenger == "popular" && start.share == 0.25)
        let stop = try #require(try TrainerCommand.parseAsRoot(["experiment", "stop", "exp-1"]) as? ExperimentCommand.Stop)
        #expect(stop.id == "exp-1")
        let status = try #require(try TrainerCommand.parseAsRoot(["experiment", "status"]) as? ExperimentCommand.Status)
        #expect(status.id == nil)
    }

    @Test("refused before any connection: a bad domain, arm, share or id", arguments: [
        ["experiment", "start", "e", "--domain", "books", "--challenger", "popular"],
        ["experiment", "start", "e", "--domain", "polls", "--challenger", "best"],
        ["experiment", "start", "e", "--domain", "polls", "--challenger", "popular", "--share", "1.5"],
        ["experiment", "start", "bad id", "--domain", "polls", "--challenger", "popular"],
        ["experiment", "start", "e", "--domain", "polls", "--control", "popular", "--challenger", "popular"],
    ])
    func refused(arguments: [String]) {
        #expect(throws: (any Error).self) { try TrainerCommand.parseAsRoot(arguments) }
    }
}
