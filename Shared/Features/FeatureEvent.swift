import Events

/// One interaction to apply, with the genres (movies) or category (polls) of its subject.
public struct FeatureEvent: Sendable, Hashable {
    public var event: Event
    public var position: RecordPosition
    public var groups: [String]

    public init(event: Event, position: RecordPosition, groups: [String]) {
        self.event = event
        self.position = position
        self.groups = groups
    }
}
