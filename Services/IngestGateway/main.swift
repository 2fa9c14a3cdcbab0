import Foundation
import HTTPSupport
import Hummingbird
import Ingest
import Kafka
import Logging
import ServiceConfiguration
import ServiceLifecycle
import ServiceSupport

// The ingest gateway: HTTP → validated events → Kafka. This file only wires configuration to the
// Ingest module; the behaviour lives there.
let service = "ingest-gateway"
let keys = ServiceBootstrap.commonKeys + TracingSettings.Keys.all + IngestConfiguration.Keys.all
ServiceBootstrap.answerCommandLine(service: service, summary: "The ingest gateway: HTTP → validated events → Kafka.", keys: keys)

let (settings, configuration) = ServiceBootstrap.load(service: service, keys: keys) { reader throws(ConfigurationError) in
    try IngestConfiguration(reading: reader)
}
let logger = Logger(label: "streamrec.\(service)")
if configuration.authMode == .open {
    logger.warning("AUTHENTICATION IS OFF (gateway.auth_mode = open): anyone who can reach this port can write events. Local runs only.")
}

let metrics = ServiceMetrics()
metrics.bootstrapGlobally()
// librdkafka's statistics as gauges when kafka.statistics_interval > 0 (off by default).
let kafkaStatistics = KafkaStatisticsMetrics(factory: metrics.factory)

/// What runs: the producer slot, the broker readiness loop and the HTTP server.
struct Gateway {
    let producers: ProducerSlot
    let readiness: BrokerReadiness
    let app: Application<RouterResponder<BasicRequestContext>>
}

// A producer or admin client that cannot be made exits 69, an error while running (e.g. the port is taken)
// exits 1 with the reason logged, as in the other services.
await ServiceBootstrap.run(
    logger: logger, settings: settings,
    start: {
        let producers = try ProducerSlot(flushTimeout: configuration.producer.deliveryTimeout, logger: logger) {
            try KafkaProducer(configuration: configuration.producer, logger: logger, onStatistics: kafkaStatistics.record)
        }
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(for: configuration.producer), logger: logger)
        let ingest = IngestService(
            configuration: configuration, producers: producers, metrics: metrics, logger: logger, instrument: TracingBootstrap.tracer(settings.tracing)
        )
        let readiness = BrokerReadiness(admin: admin, producers: producers, configuration: configuration, logger: logger)
        let app = Application(
            router: IngestApplication.router(service: ingest, readiness: readiness, metrics: metrics),
            server: HTTPServerSettings.server(
                idleTimeout: configuration.idleTimeout, requestReadTimeout: configuration.requestReadTimeout, maximumConnections: configuration.maximumConnections
            ),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: service),
            logger: logger
        )
        return Gateway(producers: producers, readiness: readiness, app: app)
    },
    // Shutdown runs in reverse order: the HTTP server stops accepting and finishes in-flight requests
    // (which wait for their delivery reports) first, then readiness stops, then the producer flushes.
    services: { (gateway: Gateway) -> [any Service] in [gateway.producers, gateway.readiness, gateway.app] },
    shutdown: { (_: Gateway) in }
)
