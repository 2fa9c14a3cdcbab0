/// The last offset of a partition whose records count in popularity, with the id of the topic it was
/// read from. Stored in the applied-offsets hash as `offset@topic id`, or `offset` alone when the
/// topic's id is not known (offsets written before ids were kept, a broker without topic ids).
struct AppliedOffset: Sendable, Equatable {
    var offset: Int64
    var topicID: String?

    init(offset: Int64, topicID: String?) {
        self.offset = offset
        self.topicID = topicID
    }

    /// Reads a stored value; nil if it is not one.
    init?(stored: String) {
        // Topic ids are base64 (letters, digits, `+`, `/`), so `@` only ever separates.
        let parts = stored.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard let offset = Int64(parts[0]) else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty else { return nil }
            topicID = String(parts[1])
        } else {
            topicID = nil
        }
        self.offset = offset
    }

    /// The value as stored.
    var stored: String { topicID.map { "\(offset)@\($0)" } ?? String(offset) }
}
