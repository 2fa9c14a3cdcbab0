import Events
import EventStore
import Logging
import Postgres
import ServiceLifecycle
import ServiceSupport
import Serving
import Synchronization

/// Keeps the catalog and the served models current: re-reads the catalog as soon as PostgreSQL announces
/// a catalog change (`NOTIFY streamrec_catalog`, sent by a trigger on the catalog tables, migration 0003),
/// so new movies and polls appear within a fraction of a second, and everything every `interval` anyway
/// (a missed notification, a missed model announcement, or PostgreSQL down at start heal by themselves).
/// A failed refresh keeps the last copy.
final class MetadataRefresher: Service, Sendable {
    /// The channel migration 0003's trigger notifies, with `schema.table` as payload.
    static let catalogChannel = "streamrec_catalog"

    let catalog: CatalogMetadata
    let models: ModelRepository
    let postgres: PostgresClient
    let migrations: SchemaMigrations
    let interval: Duration
    let minimumInterval: Duration
    let logger: Logger
    private let migrated = Mutex(false)
    private let schemaCheck = Mutex<String?>(nil)
    /// Why the schema is not usable: a migration missing while this instance only checks
    /// (`postgres.apply_migrations = false`); nil otherwise, also while PostgreSQL cannot be reached.
    var schemaProblem: String? { schemaCheck.withLock { $0 } }
    private let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation
    /// Refreshes caused by notifications (and the listener's reconnections), for tests.
    let notifiedRefreshes = Atomic<Int>(0)
    /// Set by the periodic tick and by the listener's (re)connection: the next refresh also re-checks the
    /// registry's production models. A catalog notification alone re-reads only the catalog (a burst of
    /// catalog events must not re-verify a model artifact several times a second).
    private let fullRefreshDue = Atomic<Bool>(true)
    /// The schema that holds this instance's catalog tables, as PostgreSQL names it (what the trigger puts
    /// in its payload); nil until known, and then every notification counts.
    private let catalogSchema = Mutex<String?>(nil)
    /// Set by a catalog notification and by the listener's (re)connection: the next refresh reads the
    /// catalog whatever its fingerprint says. Otherwise (the periodic tick) the catalog is read and rebuilt
    /// only when PostgreSQL's fingerprint of it changed: rebuilding 60 000 movies' titles and JSON every
    /// 10 s took ~60 ms of CPU from requests each time, and pushed the API's p99 past 5 ms.
    private let catalogReadDue = Atomic<Bool>(true)
    /// The fingerprint taken before the last catalog read (a change during the read shows at the next tick).
    private let catalogFingerprint = Mutex<String?>(nil)
    /// Catalog reads (rows fetched and the copy rebuilt), for tests.
    let catalogReads = Atomic<Int>(0)

    init(
        catalog: CatalogMetadata, models: ModelRepository, postgres: PostgresClient, migrations: SchemaMigrations, interval: Duration,
        minimumInterval: Duration = .milliseconds(250), logger: Logger
    ) {
        self.catalog = catalog
        self.models = models
        self.postgres = postgres
        self.migrations = migrations
        self.interval = interval
        self.minimumInterval = minimumInterval
        self.logger = logger
        // Newest-only with room for one: requests made during a refresh collapse into one more refresh.
        (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a refresh soon (at most one per `minimumInterval`); `full` also re-checks the models.
    func requestRefresh(full: Bool = true) {
        if full { fullRefreshDue.store(true, ordering: .releasing) }
        wakeUp.yield()
    }

    func run() async throws {
        let listener = PostgresNotificationListener(configuration: postgres.configuration, channel: Self.catalogChannel, logger: logger) { [self] event in
            switch event {
            case .listening:
                // Whatever changed while nobody listened was not announced: re-read once.
                notifiedRefreshes.add(1, ordering: .relaxed)
                catalogReadDue.store(true, ordering: .releasing)
                requestRefresh(full: true)
            case .notification(let notification):
                // Several schemas may share the database (tests, staging beside production): only ours count.
                if concernsOurCatalog(notification.payload) {
                    notifiedRefreshes.add(1, ordering: .relaxed)
                    catalogReadDue.store(true, ordering: .releasing)
                    requestRefresh(full: false)
                }
            }
        }
        listener.start()
        let interval = interval
        let minimumInterval = minimumInterval
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    requestRefresh(full: true)
                }
            }
            for await _ in wakeUps.cancelOnGracefulShutdown() {
                await refreshOnce(initial: false, modelsToo: fullRefreshDue.exchange(false, ordering: .acquiringAndReleasing))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: minimumInterval) }
            }
            group.cancelAll()
        }
        await listener.shutdown()
    }

    /// Whether a `schema.table` payload names one of our catalog tables (any schema until ours is known).
    func concernsOurCatalog(_ payload: String) -> Bool {
        guard let schema = catalogSchema.withLock({ $0 }) else { return true }
        return payload == schema + ".movies" || payload == schema + ".polls"
    }

    /// Schema (until it has been applied once), catalog, then (`modelsToo`) each domain's production model.
    /// A schema that cannot be checked (PostgreSQL down, or a role without DDL rights meeting a migration
    /// its schema owner has not applied yet) does not stop the catalog and models from being read.
    func refreshOnce(initial: Bool, modelsToo: Bool = true) async {
        if !migrated.withLock({ $0 }) {
            do {
                try await migrations.prepare(postgres, logger: logger)
                migrated.withLock { $0 = true }
                schemaCheck.withLock { $0 = nil }
            } catch PostgresError.migration(let reason) where !migrations.apply {
                logger.error("PostgreSQL schema not usable; not ready, checking again every refresh", metadata: ["error": "\(reason)"])
                schemaCheck.withLock { $0 = reason }
            } catch {
                logger.warning("PostgreSQL schema not checked; retrying every refresh", metadata: ["error": "\(error)"])
            }
        }
        if catalogSchema.withLock({ $0 }) == nil {
            // Where our catalog tables live, named as the trigger names them.
            if let schema = try? await TrainingStore(postgres: postgres).catalogSchema() { catalogSchema.withLock { $0 = schema } }
        }
        do {
            let fingerprint = try await TrainingStore(postgres: postgres).catalogFingerprint()
            let due = catalogReadDue.exchange(false, ordering: .acquiringAndReleasing)
            if due || fingerprint != catalogFingerprint.withLock({ $0 }) {
                do {
                    try await catalog.refresh(from: postgres)
                    catalogFingerprint.withLock { $0 = fingerprint }
                    catalogReads.add(1, ordering: .relaxed)
                } catch {
                    // Not read: the next refresh must read it, whatever the fingerprint says.
                    if due { catalogReadDue.store(true, ordering: .releasing) }
                    throw error
                }
            }
        } catch {
            logger.warning("catalog refresh failed; serving the last copy", metadata: ["error": "\(error)"])
        }
        guard modelsToo else { return }
        for domain in EventDomain.allCases {
            do {
                if try await models.reload(domain: domain) == nil, initial {
                    logger.warning("no production model yet; serving popular only", metadata: ["domain": "\(domain.name)"])
                }
            } catch {
                logger.error("production model could not be loaded; the one served (if any) stays", metadata: ["domain": "\(domain.name)", "error": "\(error)"])
            }
        }
    }
}
