import ArgumentParser
import Kafka
import ServiceSupport

/// `trainer check`: applies the migrations and checks that PostgreSQL and the broker are reachable.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Apply migrations, check PostgreSQL and the broker (what `trainer` alone does)."
    )

    func run() async throws {
        try await TrainerSession.run { session in
            let database = try await DependencyProbes.postgres(session.postgres)
            session.logger.info("PostgreSQL reachable", metadata: ["database": "\(database)", "migrations_applied_now": "\(session.appliedMigrations)"])
            let admin = try KafkaAdmin(
                configuration: KafkaAdminConfiguration(for: session.configuration.producer), logger: session.logger
            )
            let broker = try await DependencyProbes.kafka(admin)
            session.logger.info("broker reachable", metadata: ["broker": "\(broker)"])
            await admin.shutdown()
            session.logger.info("all dependencies reachable")
        }
    }
}
