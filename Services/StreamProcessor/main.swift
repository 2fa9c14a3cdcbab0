import Foundation
import Logging
import ServiceConfiguration
import ServiceSupport
import StreamProcessing

// The stream processor: Kafka consumer group → Redis features + PostgreSQL training store. This file
// only wires configuration to the StreamProcessing module; the behaviour lives there.
let service = "stream-processor"
let keys = ServiceBootstrap.commonKeys + TracingSettings.Keys.all + ProcessorConfiguration.Keys.all
ServiceBootstrap.answerCommandLine(
    service: service, summary: "The stream processor: Kafka consumer group → Redis features + PostgreSQL training store.", keys: keys
)

let (settings, configuration) = ServiceBootstrap.load(service: service, keys: keys) { reader throws(ConfigurationError) in
    try ProcessorConfiguration(reading: reader)
}
let logger = Logger(label: "streamrec.\(service)")
let metrics = ServiceMetrics(durationBuckets: ProcessorMetrics.durationBuckets)
metrics.bootstrapGlobally()

await ServiceBootstrap.run(
    logger: logger, settings: settings, start: {
        try await ProcessorApplication.start(configuration: configuration, metrics: metrics, logger: logger, tracer: TracingBootstrap.tracer(settings.tracing))
    },
    services: { $0.services() }, shutdown: { await $0.shutdown() }
)
