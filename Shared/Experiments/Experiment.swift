import Events

/// An online experiment: one domain's users split between a control and a challenger, stickily by user.
public struct Experiment: Sendable, Hashable {
    /// Chosen by whoever starts it; 1–64 characters of `[A-Za-z0-9._-]` (it appears in metric labels).
    public var id: String
    public var domain: EventDomain
    public var control: ExperimentArm
    public var challenger: ExperimentArm
    /// The challenger's share of users, in (0, 1).
    public var challengerShare: Double
    public var startedAt: EventTimestamp
    /// Nil while it runs.
    public var stoppedAt: EventTimestamp?

    public init(
        id: String, domain: EventDomain, control: ExperimentArm, challenger: ExperimentArm, challengerShare: Double, startedAt: EventTimestamp,
        stoppedAt: EventTimestamp? = nil
    ) {
        self.id = id
        self.domain = domain
        self.control = control
        self.challenger = challenger
        self.challengerShare = challengerShare
        self.startedAt = startedAt
        self.stoppedAt = stoppedAt
    }

    /// Whether it assigns users at `time` (started, not stopped).
    public func isRunning(at time: EventTimestamp) -> Bool {
        startedAt <= time && (stoppedAt.map { time < $0 } ?? true)
    }

    /// The user's variant: the same for the same (experiment, user), everywhere and always
    /// (``ExperimentAssignment``).
    public func variant(of user: String) -> ExperimentVariant {
        ExperimentAssignment.unitInterval(experiment: id, user: user) < challengerShare ? .challenger : .control
    }

    public func arm(_ variant: ExperimentVariant) -> ExperimentArm {
        variant == .control ? control : challenger
    }

    /// Why an id, share or pair of arms cannot make an experiment; nil when they can.
    public static func problem(id: String, control: ExperimentArm, challenger: ExperimentArm, challengerShare: Double) -> String? {
        if id.isEmpty || id.utf8.count > 64 || !id.utf8.allSatisfy({ byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }) {
            return "an experiment id is 1–64 characters of letters, digits, '.', '_' and '-'"
        }
        if !(challengerShare > 0 && challengerShare < 1) { return "the challenger's share is between 0 and 1 (exclusive)" }
        if control == challenger { return "control and challenger serve the same thing" }
        return nil
    }
}
