import ArgumentParser
import Datasets
import Events
import Foundation
import LoadGeneration
import Training

/// `trainer bootstrap`: loads a dataset into the training store (or replays it through the gateway): a
/// MovieLens directory, the calibrated synthetic polls, MovieLens-like synthetic movies of any size, or your
/// own interactions file.
struct BootstrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Load a dataset into the training store, or send it through the ingest gateway.",
        discussion: """
            Sources: --dataset (a MovieLens directory: 100K, RecBole 100K, 1M or 20M/25M layout), --polls (the \
            calibrated synthetic polls dataset), --synthetic-movies (MovieLens-100K-shaped ratings of any size: \
            --events, --users, --items, --seed) or --interactions FILE (your own TSV/CSV of user item rating \
            timestamp, a header allowed; for polls the third column is the option voted).
            """
    )

    @Option(help: "The MovieLens dataset's name.")
    var dataset = "ml-100k"

    @Option(help: "The MovieLens directory (default: data/<dataset>).")
    var dir: String?

    @Option(help: ArgumentHelp("The MovieLens layout, when detecting it from the files is not wanted.", visibility: .hidden))
    var layout: String?

    @Flag(help: "Load the calibrated synthetic polls dataset.")
    var polls = false

    @Option(help: "The synthetic polls' or movies' seed.")
    var seed: UInt64?

    @Flag(name: .customLong("synthetic-movies"), help: "Load synthetic ratings shaped like MovieLens 100K (its size by default).")
    var syntheticMovies = false

    @Option(help: "Ratings of --synthetic-movies.")
    var events = 100_000

    @Option(help: "Users of --synthetic-movies.")
    var users = 943

    @Option(help: "Movies of --synthetic-movies.")
    var items = 1682

    @Option(help: "Load your own TSV/CSV of user item rating timestamp.")
    var interactions: String?

    @Option(help: "The domain of --interactions: movies or polls.")
    var domain = "movies"

    @Option(help: "Only the latest N interactions.")
    var limit: Int?

    @Option(name: .customLong("hold-out-dir"), help: "Hold each user's latest 20 % out: load the rest, write both parts to D/train.tsv and D/test.tsv.")
    var holdOutDir: String?

    @Option(help: "Send them through the ingest gateway at http://HOST:PORT instead (times moved into the last 29 days).")
    var replay: String?

    @Option(name: .customLong("api-key"), help: "The gateway's producer key (with --replay).")
    var apiKey: String?

    @Option(name: .customLong("api-key-file"), help: "A file holding the gateway's producer key (with --replay).")
    var apiKeyFile: String?

    @Option(help: "Events per second through the gateway (with --replay; unpaced without it).")
    var rate: Double?

    func validate() throws {
        guard eventDomain != nil else { throw ValidationError("--domain movies|polls, got \(domain)") }
        if let replay, replayEndpoint == nil { throw ValidationError("--replay http://HOST:PORT, got \(replay)") }
        if let layout, MovieLens.Layout(rawValue: layout) == nil { throw ValidationError("unknown --layout \(layout)") }
        if syntheticMovies {
            guard users > 0, items > 0, events > 0 else { throw ValidationError("--events, --users and --items must be positive") }
            let cap = Int(Double(items) * SyntheticMovies.Configuration().maximumShareOfCatalog)
            guard events <= cap * users else { throw ValidationError("--events \(events) do not fit \(users) users rating at most \(cap) of \(items) items each") }
        }
    }

    var eventDomain: EventDomain? { EventDomain(name: domain) }

    var replayEndpoint: (host: String, port: Int)? {
        guard let replay, let url = URL(string: replay), let host = url.host, let port = url.port else { return nil }
        return (host, port)
    }

    func run() async throws {
        try await TrainerSession.run { session in
            let events = try readEvents()
            var interactions = events.interactions
            if let limit { interactions = Array(interactions.sorted { $0.occurredAt < $1.occurredAt }.suffix(limit)) }
            if let directory = holdOutDir {
                let split = Bootstrap.holdOutLatest(interactions, fraction: 0.2)
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try split.trainText.write(toFile: directory + "/train.tsv", atomically: true, encoding: .utf8)
                try split.testText.write(toFile: directory + "/test.tsv", atomically: true, encoding: .utf8)
                print("bootstrap: held out \(interactions.count - split.kept.count) interactions (each user's latest 20 %) into \(directory)/test.tsv")
                interactions = split.kept
            }
            if let target = replay, let endpoint = replayEndpoint {
                // Through the gateway, as live producers: times moved into the last 29 days (the gateway
                // refuses events older than its events.max_age, 30 days by default), catalog first.
                let key = try apiKeyFile.map { try String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) } ?? apiKey ?? ""
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let catalog = events.catalog.map { event -> Event in
                    var recent = event
                    recent.occurredAt = EventTimestamp(millisecondsSinceEpoch: now - 29 * 86_400_000 - 60_000)
                    return recent
                }
                let retimed = EventReplay.retimed(interactions.sorted { $0.occurredAt < $1.occurredAt }, now: now, horizon: 29 * 86_400_000)
                let progress = ProgressReporter("replay", logger: session.logger)
                let outcome = try await EventReplay.replay(
                    catalog + retimed, host: endpoint.host, port: endpoint.port, apiKey: key, rate: rate, progress: { progress.update($0, of: $1) }
                )
                print("replay: \(outcome.accepted) accepted, \(outcome.rejected) rejected, \(outcome.failedRequests) failed requests (\(target))")
                if outcome.failedRequests > 0 || outcome.rejected > 0 { throw ExitCode(65) }
            } else {
                let progress = ProgressReporter("bootstrap \(events.dataset)", logger: session.logger)
                var direct = events
                direct.interactions = interactions
                let stored = try await Bootstrap(store: TrainingStore(postgres: session.postgres)).load(direct) { progress.update($0, of: $1) }
                print("bootstrap: \(events.dataset): \(events.catalog.count) catalog entries, \(interactions.count) interactions (\(stored) new)")
            }
        }
    }

    /// The chosen source's catalog and interactions; an unreadable file exits 66, no MovieLens files 65.
    func readEvents() throws -> Bootstrap.Events {
        if let path = interactions {
            guard let data = FileManager.default.contents(atPath: path) else { throw TrainerSession.fail("trainer bootstrap: cannot read \(path)", status: 66) }
            return try Bootstrap.events(interactions: MovieLens.text(Array(data)), file: path, domain: eventDomain ?? .movie)
        }
        if syntheticMovies {
            let data = SyntheticMovies(configuration: SyntheticMovies.Configuration(users: users, items: items, events: events, seed: seed ?? 100))
            // The shape beside MovieLens 100K's, on stderr: what the cost curves were measured on.
            let generated = InteractionShape(movies: data.movies, ratings: data.ratings).description.split(separator: "\n")
            let reference = InteractionShape.movieLens100K.description.split(separator: "\n")
            for (line, target) in zip(generated, reference) {
                FileHandle.standardError.write(Data("shape: \(line)    (ml-100k: \(target.split(separator: " ", maxSplits: 1).last ?? ""))\n".utf8))
            }
            return Bootstrap.events(movies: data)
        }
        if polls {
            var configuration = SyntheticPolls.Configuration()
            if let seed { configuration.seed = seed }
            return Bootstrap.events(polls: SyntheticPolls(configuration: configuration))
        }
        let directory = dir ?? "data/\(dataset)"
        guard let layout = layout.flatMap(MovieLens.Layout.init(rawValue:)) ?? Bootstrap.detectLayout(directory: directory) else {
            throw TrainerSession.fail("trainer bootstrap: no MovieLens files in \(directory) (scripts/fetch-data.sh fetches ml-100k)", status: 65)
        }
        let (movies, ratings) = try Bootstrap.readMovieLens(directory: directory, layout: layout)
        return Bootstrap.events(dataset: dataset, movies: movies, ratings: ratings)
    }
}
