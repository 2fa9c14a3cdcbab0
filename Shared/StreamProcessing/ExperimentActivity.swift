import Events
import Experiments
import ModelRegistry
import Synchronization

/// Which domains can have interactions to attribute: those with a running experiment, or one stopped less
/// than `grace` ago (answers it served may still be answered). The outcome consumer skips the other domains'
/// events before decoding them, so that with no experiment it costs a fetch and nothing more. Read from
/// PostgreSQL at most every `interval`; while it cannot be read, every domain counts as active (better to
/// decode for nothing than to miss an outcome).
public final class ExperimentActivity: Sendable {
    private struct Reading {
        var domains: Set<EventDomain>
        var at: ContinuousClock.Instant
    }

    private let store: ExperimentStore
    private let interval: Duration
    private let grace: Duration
    private let reading = Mutex<Reading?>(nil)

    public init(store: ExperimentStore, interval: Duration = .seconds(5), grace: Duration) {
        self.store = store
        self.interval = interval
        self.grace = grace
    }

    func activeDomains() async -> Set<EventDomain> {
        let now = ContinuousClock.now
        if let known = reading.withLock({ $0 }), now - known.at < interval { return known.domains }
        let domains: Set<EventDomain>
        do {
            let cutoff = EventTimestamp(millisecondsSinceEpoch: wallClockMilliseconds() - grace.milliseconds)
            domains = Set(try await store.all().filter { experiment in experiment.stoppedAt.map { $0 > cutoff } ?? true }.map(\.domain))
        } catch {
            domains = Set(EventDomain.allCases)
        }
        reading.withLock { $0 = Reading(domains: domains, at: now) }
        return domains
    }

    /// An experiment's answer was just read in `domain`: the domain is active whatever the last reading said
    /// (the API may have learnt of a new experiment before this did).
    func saw(_ domain: EventDomain) {
        reading.withLock { reading in
            if reading?.domains.contains(domain) == false { reading?.domains.insert(domain) }
        }
    }
}
