import ArgumentParser
import Testing
@testable import TrainerCommands

@Suite("trainer redrive-dead-letters command line")
struct RedriveDeadLettersCommandLineTests {
    @Test("lists without --reason; a reason with a partition's offset range parses; a range without a partition is refused")
    func parses() throws {
        let list = try #require(try TrainerCommand.parseAsRoot(["redrive-dead-letters"]) as? RedriveDeadLettersCommand)
        #expect(list.reason == nil && list.deadLetterTopic == "streamrec.dead-letter" && !list.dryRun)
        let selected = try #require(
            try TrainerCommand.parseAsRoot([
                "redrive-dead-letters", "--reason", "unknown_field", "--partition", "2", "--from-offset", "10", "--to-offset", "20", "--dry-run",
            ]) as? RedriveDeadLettersCommand)
        #expect(selected.reason == "unknown_field" && selected.partition == 2 && selected.fromOffset == 10 && selected.toOffset == 20 && selected.dryRun)
        #expect(throws: (any Error).self) { try TrainerCommand.parseAsRoot(["redrive-dead-letters", "--reason", "x", "--from-offset", "1"]) }
        #expect(throws: (any Error).self) { try TrainerCommand.parseAsRoot(["redrive-dead-letters", "--partition", "0", "--from-offset", "9", "--to-offset", "1"]) }
    }
}
