import Foundation
import Postgres
import StackTestSupport
import Training

extension TrainerConfiguration {
    /// Small models in a schema and artifacts directory of the test's own: the serving tests check the
    /// paths, the benchmarks measure quality.
    public static func small(schema: String, postgres: PostgresConfiguration) throws -> TrainerConfiguration {
        var configuration = TrainerConfiguration(postgres: postgres, producer: .init(bootstrapServers: try TestStack.kafkaBrokers()))
        configuration.artifactsDirectory = NSTemporaryDirectory() + schema
        configuration.migrationsDirectory = TestStack.repositoryRoot + "/configs/migrations"
        configuration.parameters.alsFactors = 8
        configuration.parameters.alsIterations = 4
        configuration.parameters.alsRegularization = 1
        configuration.parameters.ratingFactors = 8
        return configuration
    }
}
