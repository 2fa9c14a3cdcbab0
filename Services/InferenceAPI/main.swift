import Foundation
import Inference
import Logging
import ServiceConfiguration
import ServiceSupport

// The inference API: Redis features + model artifacts + PostgreSQL metadata → recommendations. This
// file only wires configuration to the Inference module; the behaviour lives there and in Serving.
let service = "inference-api"
let keys = ServiceBootstrap.commonKeys + TracingSettings.Keys.all + InferenceConfiguration.Keys.all
ServiceBootstrap.answerCommandLine(
    service: service, summary: "The inference API: Redis features + model artifacts + PostgreSQL metadata → recommendations.", keys: keys
)
let (settings, configuration) = ServiceBootstrap.load(service: service, keys: keys) { reader throws(ConfigurationError) in
    try InferenceConfiguration(reading: reader)
}
let logger = Logger(label: "streamrec.\(service)")
if configuration.adminToken.isEmpty {
    logger.notice("inference.admin_token is not set: POST /v1/admin/reload answers 403; models still reload on model-updated announcements")
}
let metrics = ServiceMetrics()
metrics.bootstrapGlobally()
await ServiceBootstrap.run(
    logger: logger, settings: settings, start: {
        try await InferenceApplication.start(configuration: configuration, metrics: metrics, logger: logger, tracing: settings.tracing.enabled)
    },
    services: { try $0.services() }, shutdown: { await $0.shutdown() }
)
