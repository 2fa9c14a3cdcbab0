import CRdKafka
import Logging
import Synchronization

/// State shared with librdkafka's C callbacks through the handle's opaque pointer (no globals).
/// Subclassed by the producer and consumer; the owning client keeps it alive until after
/// `rd_kafka_destroy`, so callbacks never see a dangling pointer.
class KafkaHandleContext: @unchecked Sendable {
    let logger: Logger
    /// A fatal error librdkafka reported, after which the handle cannot be used (idempotence or
    /// group-membership guarantees lost).
    let fatalError = Mutex<KafkaError?>(nil)
    /// Called with each statistics report (`statistics.interval.ms` > 0), on the librdkafka thread that
    /// delivers it. Set before the handle is made.
    let onStatistics = Mutex<(@Sendable (KafkaStatistics) -> Void)?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    var opaquePointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> KafkaHandleContext? {
        pointer.map { Unmanaged<KafkaHandleContext>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Installs the log and error callbacks shared by every handle kind.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, opaquePointer)
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, text in
            guard let handle, let context = KafkaHandleContext.from(rd_kafka_opaque(handle)) else { return }
            let message = text.map { String(cString: $0) } ?? ""
            let facility = facility.map { String(cString: $0) } ?? ""
            context.logger.log(level: Logger.Level(syslog: level), "librdkafka: \(message)", metadata: ["facility": "\(facility)"])
        }
        rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
            guard let context = KafkaHandleContext.from(opaque), let json, let report = context.onStatistics.withLock({ $0 }) else { return 0 }
            context.logger.trace("librdkafka statistics", metadata: ["json": "\(String(cString: json))"])
            if let statistics = KafkaStatistics.parse(UnsafeRawBufferPointer(start: json, count: length)) { report(statistics) }
            return 0  // librdkafka frees the JSON
        }
        rd_kafka_conf_set_error_cb(conf) { handle, code, reason, opaque in
            guard let context = KafkaHandleContext.from(opaque) else { return }
            let reason = reason.map { String(cString: $0) } ?? ""
            context.handleError(code: code, reason: reason, handle: handle)
        }
    }

    /// Client-wide errors (all brokers down, fatal idempotence errors). Most are transient and
    /// librdkafka recovers by itself; a fatal one is remembered and fails later operations.
    func handleError(code: Int32, reason: String, handle: OpaquePointer?) {
        guard code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let handle else {
            // Transient (broker down, transport): librdkafka retries by itself and its log line says the same.
            logger.notice("kafka client error", metadata: ["code": "\(code)", "reason": "\(reason)"])
            return
        }
        var text = [CChar](repeating: 0, count: 512)
        let underlying = rd_kafka_fatal_error(handle, &text, text.count)
        let error = KafkaError(underlying, message: String(cBuffer: text), isFatal: true)
        fatalError.withLock { $0 = error }
        logger.critical("kafka fatal error", metadata: ["error": "\(error)"])
    }
}

extension Logger.Level {
    /// librdkafka logs with syslog levels (0 emergency ... 7 debug).
    init(syslog level: Int32) {
        switch level {
        case ...2: self = .error
        // librdkafka reports every failed connection attempt at LOG_ERR; the client recovers by
        // itself, so these are warnings to an operator, not errors.
        case 3, 4: self = .warning
        case 5, 6: self = .info
        default: self = .debug
        }
    }
}
