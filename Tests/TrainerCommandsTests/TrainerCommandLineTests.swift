import ArgumentParser
import Testing
@testable import TrainerCommands

/// The trainer's command line, parsed as the binary parses it but without running anything: every
/// command scripts/, the Makefile, deploy/ and the docs use parses to the values they mean, `--help` is a
/// clean exit, and anything unknown or misspelt is refused with 64 (EX_USAGE) instead of being ignored.
@Suite("trainer command line parsing")
struct TrainerCommandLineTests {
    func parse<Command: ParsableCommand>(_ arguments: [String], as _: Command.Type = Command.self) throws -> Command {
        let parsed = try TrainerCommand.parseAsRoot(arguments)
        return try #require(parsed as? Command, "\(arguments) parsed as \(type(of: parsed))")
    }

    /// The exit code the binary would exit with for this command line's parse error (0 for help), or nil
    /// when it parses to one of the trainer's commands. A help request parses to argument-parser's own
    /// help command, whose run (printing nothing here) ends in a clean exit, as `main()` would run it.
    func exitCode(_ arguments: [String]) -> Int32? {
        do {
            var parsed = try TrainerCommand.parseAsRoot(arguments)
            let ours: [any ParsableCommand.Type] = [TrainerCommand.self] + TrainerCommand.configuration.subcommands
            if ours.contains(where: { $0 == type(of: parsed) }) { return nil }
            try parsed.run()
            return nil
        } catch {
            return TrainerCommand.exitCode(for: error).rawValue
        }
    }

    @Test("no command is the root, which runs check; check parses")
    func defaultCommand() throws {
        let root = try parse([], as: TrainerCommand.self)
        #expect(!root.helpConfig && !root.configTemplate)
        _ = try parse(["check"], as: CheckCommand.self)
        // The informational flags print and exit 0 wherever they stand.
        for arguments in [["--help-config"], ["--config-template"], ["list", "--help-config"]] {
            #expect(exitCode(arguments) == 0, "\(arguments)")
        }
    }

    @Test("bootstrap: the scripts' command lines and the defaults")
    func bootstrap() throws {
        let movies = try parse(["bootstrap", "--dataset", "ml-100k", "--limit", "20000", "--replay", "http://127.0.0.1:8080", "--api-key", "k"], as: BootstrapCommand.self)
        #expect(movies.dataset == "ml-100k" && movies.limit == 20000 && movies.apiKey == "k" && !movies.polls)
        #expect(movies.replayEndpoint?.host == "127.0.0.1" && movies.replayEndpoint?.port == 8080)
        let polls = try parse(["bootstrap", "--polls", "--hold-out-dir", "/tmp/x", "--seed", "7"], as: BootstrapCommand.self)
        #expect(polls.polls && polls.holdOutDir == "/tmp/x" && polls.seed == 7)
        let defaults = try parse(["bootstrap"], as: BootstrapCommand.self)
        #expect(defaults.dataset == "ml-100k" && defaults.dir == nil && defaults.domain == "movies" && defaults.eventDomain == .movie)
        let own = try parse(["bootstrap", "--interactions", "f.tsv", "--domain", "polls", "--dir", "d", "--api-key-file", "k", "--rate", "500"], as: BootstrapCommand.self)
        #expect(own.interactions == "f.tsv" && own.eventDomain == .poll && own.dir == "d" && own.apiKeyFile == "k" && own.rate == 500)
        #expect(exitCode(["bootstrap", "--domain", "books"]) == 64)
        #expect(exitCode(["bootstrap", "--replay", "nowhere"]) == 64)
        #expect(exitCode(["bootstrap", "--limit", "many"]) == 64)
    }

    @Test("bootstrap --synthetic-movies: scripts/bench/scale.sh's command line, ML-100K's size by default, sizes that cannot fit refused")
    func bootstrapSyntheticMovies() throws {
        let scaled = try parse(["bootstrap", "--synthetic-movies", "--events", "1000000", "--users", "6040", "--items", "3706", "--seed", "100"], as: BootstrapCommand.self)
        #expect(scaled.syntheticMovies && scaled.events == 1_000_000 && scaled.users == 6040 && scaled.items == 3706 && scaled.seed == 100)
        let defaults = try parse(["bootstrap", "--synthetic-movies"], as: BootstrapCommand.self)
        #expect(defaults.events == 100_000 && defaults.users == 943 && defaults.items == 1682 && defaults.seed == nil)
        // 10 users can rate at most 44 % of 10 items each: 40 ratings.
        #expect(exitCode(["bootstrap", "--synthetic-movies", "--events", "41", "--users", "10", "--items", "10"]) == 64)
        #expect(exitCode(["bootstrap", "--synthetic-movies", "--users", "0"]) == 64)
    }

    @Test("train, promote, rollback, list, schedule: values, flags and defaults")
    func registryCommands() throws {
        let train = try parse(["train", "--domain", "movies"], as: TrainCommand.self)
        #expect(train.domain == "movies" && !train.force)
        #expect(try parse(["train", "--domain", "polls", "--force"], as: TrainCommand.self).force)
        // `--version` inside promote is the model version, not the binary's.
        let promote = try parse(["promote", "--version", "polls-3", "--force"], as: PromoteCommand.self)
        #expect(promote.version == "polls-3" && promote.force)
        let online = try parse(["promote", "--online", "exp-7"], as: PromoteCommand.self)
        #expect(online.online == "exp-7" && online.version == nil && online.alpha == 0.05)
        #expect(try parse(["promote", "--online", "exp-7", "--alpha", "0.01"], as: PromoteCommand.self).alpha == 0.01)
        // One of the two, never both; online evidence is the gate, so no --force with it.
        #expect(exitCode(["promote", "--online", "exp-7", "--version", "v1"]) == 64)
        #expect(exitCode(["promote", "--online", "exp-7", "--force"]) == 64)
        #expect(exitCode(["promote", "--online", "exp-7", "--alpha", "0.7"]) == 64)
        #expect(try parse(["rollback", "--domain", "polls"], as: RollbackCommand.self).domain == "polls")
        #expect(try parse(["list"], as: ListCommand.self).domain == nil)
        #expect(try parse(["list", "--domain", "movies"], as: ListCommand.self).domain == "movies")
        let schedule = try parse(["schedule", "--every", "24h"], as: ScheduleCommand.self)
        #expect(schedule.every == "24h" && schedule.domain == "movies,polls" && schedule.retry == "30s")
        #expect(exitCode(["schedule", "--every", "daily"]) == 64)
        #expect(exitCode(["schedule", "--every", "1h", "--retry", "soon"]) == 64)
    }

    @Test("evaluate: the external-scoring contract's options and defaults")
    func evaluate() throws {
        let defaults = try parse(["evaluate", "--train", "a.tsv", "--test", "b.tsv"], as: EvaluateCommand.self)
        #expect(defaults.train == "a.tsv" && defaults.test == "b.tsv" && defaults.k == 10 && defaults.validation == "random")
        #expect(defaults.ratingsOut == nil && defaults.topNOut == nil)
        let all = try parse(
            ["evaluate", "--train", "a", "--test", "b", "--ratings-out", "r", "--topn-out", "t", "--k", "20", "--validation", "latest"], as: EvaluateCommand.self
        )
        #expect(all.ratingsOut == "r" && all.topNOut == "t" && all.k == 20 && all.validation == "latest")
        #expect(exitCode(["evaluate", "--train", "a", "--test", "b", "--k", "0"]) == 64)
        #expect(exitCode(["evaluate", "--train", "a", "--test", "b", "--validation", "sideways"]) == 64)
        #expect(exitCode(["evaluate", "--train", "a"]) == 64)
    }

    @Test("--help and --version are clean exits (0), for the root and every command")
    func helpIsClean() {
        for arguments in [["--help"], ["-h"], ["help"], ["--version"], ["list", "--help"], ["bootstrap", "--help"], ["evaluate", "-h"], ["help", "schedule"]] {
            #expect(exitCode(arguments) == 0, "\(arguments)")
        }
        #expect(TrainerCommand.helpMessage().contains("bootstrap"))
        #expect(TrainerCommand.helpMessage(for: EvaluateCommand.self).contains("--topn-out"))
    }

    @Test("unknown options, misspellings, unknown commands and missing required values exit 64")
    func refusals() {
        let refused: [[String]] = [
            ["list", "--domian", "movies"], ["train", "--domain"], ["train"], ["promote"], ["rollback"], ["no-such-command"],
            ["--force"], ["train", "--domain", "movies", "--froce"], ["bootstrap", "--poll"], ["schedule"], ["list", "movies"],
        ]
        for arguments in refused {
            #expect(exitCode(arguments) == 64, "\(arguments)")
        }
    }

    @Test("shell completion scripts are generated for bash, zsh and fish")
    func completion() {
        for shell in ["bash", "zsh", "fish"] {
            #expect(exitCode(["--generate-completion-script", shell]) == 0, "\(shell)")
        }
        #expect(TrainerCommand.completionScript(for: .bash).contains("bootstrap"))
    }
}
