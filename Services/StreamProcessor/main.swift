import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import StreamProcessing

// The stream processor: Kafka consumer group → Redis features + PostgreSQL training store. This file
// only wires configuration to the StreamProcessing module; the behaviour lives there.
let service = "stream-processor"
let keys = [ServiceBootstrap.logLevel] + ProcessorConfiguration.Keys.all
ServiceBootstrap.answerInformationalArguments(
    service: service, summary: "The stream processor: Kafka consumer group → Redis features + PostgreSQL training store.", keys: keys
)

let configuration = ServiceBootstrap.loadConfiguration(service: service, keys: keys) { reader throws(ConfigurationError) in
    try ProcessorConfiguration(reading: reader)
}
let logger = Logger(label: "streamrec.\(service)")
let metrics = ServiceMetrics(durationBuckets: ProcessorMetrics.durationBuckets)
metrics.bootstrapGlobally()

let application: ProcessorApplication
do {
    application = try await ProcessorApplication.start(configuration: configuration, metrics: metrics, logger: logger)
} catch {
    logger.critical("cannot start: a dependency is unreachable", metadata: ["error": "\(error)"])
    exit(69)  // EX_UNAVAILABLE: the supervisor restarts us
}
let group = ServiceGroup(configuration: .init(
    services: application.services(), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
))
do {
    try await group.run()
} catch {
    logger.error("stopped with an error", metadata: ["error": "\(error)"])
    await application.shutdown()
    exit(1)
}
await application.shutdown()
