import Foundation
import Kafka
import Postgres
import Recommender
import ServiceSupport

// `trainer evaluate --train FILE --test FILE [--ratings-out FILE] [--topn-out FILE] [--k 10]`: the
// external-scoring contract. Input TSV `user<TAB>item<TAB>rating<TAB>timestamp` (a header line allowed).
if CommandLine.arguments.dropFirst().first == "evaluate" {
    var options: [String: String] = [:]
    var arguments = CommandLine.arguments.dropFirst(2).makeIterator()
    while let argument = arguments.next() {
        guard argument.hasPrefix("--"), let value = arguments.next() else {
            FileHandle.standardError.write(Data("trainer evaluate: expected --option value pairs, got \(argument)\n".utf8))
            exit(64)
        }
        options[String(argument.dropFirst(2))] = value
    }
    guard let trainPath = options["train"], let testPath = options["test"] else {
        FileHandle.standardError.write(Data("usage: trainer evaluate --train FILE --test FILE [--ratings-out FILE] [--topn-out FILE] [--k 10]\n".utf8))
        exit(64)
    }
    let unknown = Set(options.keys).subtracting(["train", "test", "ratings-out", "topn-out", "k"])
    guard unknown.isEmpty, let k = Int(options["k"] ?? "10"), (1...1000).contains(k) else {
        FileHandle.standardError.write(Data("trainer evaluate: unknown option or bad --k: \(unknown.sorted())\n".utf8))
        exit(64)
    }
    do {
        let train = try String(contentsOfFile: trainPath, encoding: .utf8)
        let test = try String(contentsOfFile: testPath, encoding: .utf8)
        let output = try ExternalEvaluation(k: k).run(train: train, test: test)
        if let path = options["ratings-out"] { try output.ratings.write(toFile: path, atomically: true, encoding: .utf8) }
        if let path = options["topn-out"] { try output.topN.write(toFile: path, atomically: true, encoding: .utf8) }
        print(output.report, terminator: "")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("trainer evaluate: \(error)\n".utf8))
        exit(65)
    }
}

// The trainer fits models from the Postgres training store and registers them. At this stage it
// checks its configuration, PostgreSQL (applying migrations) and the broker, then exits.
let check = ServiceCheck(service: "trainer", summary: "The trainer: PostgreSQL training store → models, artifacts, registry.", keys: ClientConfigKeys.postgres + ClientConfigKeys.kafkaProducer)
exit(await check.run { reader, logger in
    let postgres = PostgresClient(configuration: try PostgresConfiguration(reading: reader, applicationName: "trainer"), logger: logger)
    let producerConfiguration = try KafkaProducerConfiguration(reading: reader, clientID: "trainer")
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: producerConfiguration.bootstrapServers), logger: logger)
    return try await withCleanup {
        let applied = try await PostgresMigrator(directory: try reader.string(ClientConfigKeys.postgresMigrationsDirectory)).migrate(postgres)
        return [
            try await DependencyProbes.postgres(postgres) + ", migrations applied now: \(applied)",
            try await DependencyProbes.kafka(admin),
        ]
    } cleanup: {
        await postgres.shutdown()
        await admin.shutdown()
    }
})
