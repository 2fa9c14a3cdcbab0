import Events
import Experiments
import Logging
import ModelRegistry
import ServiceLifecycle
import Serving
import Synchronization

/// The running experiments, as the API serves them: read from PostgreSQL every
/// `inference.experiment_refresh` (and at once after the admin route changed one), with the registered
/// versions their arms name loaded beside production. A request asks ``assignment(user:domain:now:)``
/// which variant its user is in and which model answers (a lock and a hash: no I/O on the request path).
public final class ExperimentAssignments: Service, Sendable {
    /// A user's place in the running experiment of a domain.
    public struct Assignment: Sendable {
        public var experiment: Experiment
        public var variant: ExperimentVariant
        public var model: RecommendationEngine.ModelChoice
    }

    public let store: ExperimentStore
    private let models: ModelRepository
    private let interval: Duration
    private let logger: Logger
    private let running = Mutex<[EventDomain: Experiment]>([:])
    /// Whether any experiment runs: read on every request without the lock (most of the time none does).
    private let anyRunning = Atomic<Bool>(false)
    /// Refreshes may overlap (the periodic one and an admin route's): each takes a number when it starts,
    /// and one that finishes after a later-started one has applied its reading applies nothing.
    private let refreshesStarted = Atomic<Int>(0)
    private let appliedRefresh = Mutex<Int>(0)

    public init(store: ExperimentStore, models: ModelRepository, interval: Duration, logger: Logger) {
        self.store = store
        self.models = models
        self.interval = interval
        self.logger = logger
    }

    /// The experiments the API serves now.
    public var current: [Experiment] { running.withLock { Array($0.values) }.sorted { $0.id < $1.id } }

    /// Nil when no experiment runs for the domain, or an arm's model version is not loaded (the user then
    /// gets production and no variant: an answer from another model must not count for an arm).
    public func assignment(user: String, domain: EventDomain, now: Int64) -> Assignment? {
        guard anyRunning.load(ordering: .relaxed), let experiment = running.withLock({ $0[domain] }), experiment.isRunning(at: EventTimestamp(millisecondsSinceEpoch: now)) else { return nil }
        let variant = experiment.variant(of: user)
        let model: RecommendationEngine.ModelChoice
        switch experiment.arm(variant) {
        case .production: model = .production
        case .popularOnly: model = .none
        case .model(let version):
            guard let loaded = models.model(version: version) else { return nil }
            model = .model(loaded)
        }
        return Assignment(experiment: experiment, variant: variant, model: model)
    }

    /// Reads the running experiments and loads the versions they name. PostgreSQL down: the last ones read
    /// keep serving. A version that does not load is logged (its experiment's users get production, unassigned).
    public func refreshOnce() async {
        let number = refreshesStarted.add(1, ordering: .relaxed).newValue
        do {
            let experiments = try await store.running()
            var versions: Set<String> = []
            for experiment in experiments {
                for arm in [experiment.control, experiment.challenger] {
                    guard case .model(let version) = arm else { continue }
                    versions.insert(version)
                    do {
                        try await models.loadVersion(version)
                    } catch {
                        logger.warning("experiment arm's model did not load", metadata: ["experiment": "\(experiment.id)", "version": "\(version)", "error": "\(error)"])
                    }
                }
            }
            appliedRefresh.withLock { applied in
                guard number > applied else { return }  // a later reading is already served
                applied = number
                models.retainVersions(versions)
                running.withLock { running in
                    running = Dictionary(experiments.map { ($0.domain, $0) }, uniquingKeysWith: { first, _ in first })
                }
                anyRunning.store(!experiments.isEmpty, ordering: .relaxed)
            }
        } catch {
            logger.debug("could not read the running experiments", metadata: ["error": "\(error)"])
        }
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await refreshOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
