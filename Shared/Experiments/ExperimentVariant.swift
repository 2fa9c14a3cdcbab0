/// The two sides of an experiment, as answers, impressions and outcome counters name them.
public enum ExperimentVariant: String, Sendable, Hashable, CaseIterable {
    case control
    case challenger
}
