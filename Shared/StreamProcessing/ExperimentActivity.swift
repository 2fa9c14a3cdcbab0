import Events
import Experiments
import ModelRegistry
import Synchronization

/// The experiments whose answers the outcome consumer keeps and credits, per domain: those running, and those
/// stopped less than `retention` ago (answers they served may still be answered). Read from this deployment's
/// `experiments` table at most every `interval`, and at once (unless read in the last 100 ms) when an impression names
/// an experiment not known yet (the API may have learnt of a new one first). Impressions of experiments this
/// deployment never ran are not counted, and events of a domain with none are skipped undecoded, so that
/// with no experiment the consumer costs a fetch and nothing more. While PostgreSQL cannot be read, the last
/// reading stands.
public final class ExperimentActivity: Sendable {
    private struct Reading {
        var experiments: [EventDomain: Set<String>]
        var at: ContinuousClock.Instant
    }

    private let store: ExperimentStore
    private let interval: Duration
    private let retention: Duration
    private let reading = Mutex<Reading?>(nil)

    public init(store: ExperimentStore, interval: Duration = .seconds(5), retention: Duration) {
        self.store = store
        self.interval = interval
        self.retention = retention
    }

    /// - Parameter named: experiments the batch's impressions name; one not known yet forces a reading.
    func experiments(named: Set<String> = []) async -> [EventDomain: Set<String>] {
        let now = ContinuousClock.now
        let known = reading.withLock { $0 }
        if let known {
            let all = known.experiments.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            let age = now - known.at
            // An unknown name is read again unless it was just read (a foreign experiment's answers on a shared
            // topic would otherwise cost a query per batch).
            if age < interval && (named.isSubset(of: all) || age < .milliseconds(100)) { return known.experiments }
        }
        do {
            let cutoff = EventTimestamp(millisecondsSinceEpoch: wallClockMilliseconds() - retention.milliseconds)
            var experiments: [EventDomain: Set<String>] = [:]
            for experiment in try await store.all() where experiment.stoppedAt.map({ $0 > cutoff }) ?? true {
                experiments[experiment.domain, default: []].insert(experiment.id)
            }
            reading.withLock { $0 = Reading(experiments: experiments, at: now) }
            return experiments
        } catch {
            return known?.experiments ?? [:]
        }
    }
}
