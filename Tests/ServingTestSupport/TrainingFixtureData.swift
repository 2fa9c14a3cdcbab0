import Datasets

/// The small synthetic polls catalog of the trainer tests, for fixtures of this target.
public enum TrainingFixtureData {
    public static func smallPolls() -> SyntheticPolls {
        var polls = SyntheticPolls.Configuration()
        polls.users = 300
        polls.polls = 80
        polls.medianUsersPerPoll = 20
        polls.meanUsersPerPoll = 26
        return SyntheticPolls(configuration: polls)
    }
}
