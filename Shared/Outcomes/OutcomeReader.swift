import Events
import Experiments
import Redis

/// Reads an experiment's outcome counters (one `HGETALL` of its counts hash) for the API and the trainer.
public struct OutcomeReader: Sendable {
    public let keys: OutcomeKeys
    private let redis: RedisClient

    public init(keyPrefix: String, redis: RedisClient) {
        keys = OutcomeKeys(prefix: keyPrefix)
        self.redis = redis
    }

    public func figures(_ experiment: Experiment) async throws(RedisError) -> OutcomeFigures {
        let reply = try await redis.send(RedisCommand("HGETALL", keys.counts(experiment.domain, experiment: experiment.id)))
        guard let values = reply.array else { throw .unexpectedReply("HGETALL answered \(reply)") }
        var fields: [(String, Int64)] = []
        fields.reserveCapacity(values.count / 2)
        var index = 0
        while index + 1 < values.count {
            if let field = values[index].string, let count = values[index + 1].string.flatMap({ Int64($0) }) { fields.append((field, count)) }
            index += 2
        }
        return OutcomeFigures(fields: fields)
    }
}
