/// `recommendation.served` v1: one answer of the inference API, as the API publishes it on its own topic
/// (`topics.recommendation_served`) for the stream processor to attribute the interactions that follow
/// (docs/events.md, Impressions; docs/experiments.md). Pure: the record, its canonical JSON and its decoder.
///
/// Versioned like the event contract: `schema_version` in the record and in the `schema-version` header;
/// within v1 fields are only added (optional ones), and readers ignore fields they do not know.
public struct RecommendationServed: Sendable, Hashable {
    public static let schemaVersion = 1
    /// The topic's default name (`topics.recommendation_served`).
    public static let defaultTopic = "recommendation.served"
    /// The `event-type` header of its records.
    public static let recordType = "recommendation.served"

    /// One recommended item and where it was shown (1 = first).
    public struct ServedItem: Sendable, Hashable {
        public var itemID: String
        public var position: Int

        public init(itemID: String, position: Int) {
            self.itemID = itemID
            self.position = position
        }
    }

    /// Lower-case UUID, the `recommendation_id` the answer carried.
    public var recommendationID: String
    public var userID: String
    public var domain: EventDomain
    /// How the list was made (`personalised`, `fold-in`, `preferences`, `popular`).
    public var strategy: String
    /// The served model's version; nil when no model took part.
    public var modelVersion: String?
    /// The running experiment and the user's variant in it, when one runs.
    public var experimentID: String?
    public var variant: String?
    public var items: [ServedItem]
    public var servedAt: EventTimestamp

    public init(
        recommendationID: String, userID: String, domain: EventDomain, strategy: String, modelVersion: String?, experimentID: String? = nil,
        variant: String? = nil, items: [ServedItem], servedAt: EventTimestamp
    ) {
        self.recommendationID = recommendationID
        self.userID = userID
        self.domain = domain
        self.strategy = strategy
        self.modelVersion = modelVersion
        self.experimentID = experimentID
        self.variant = variant
        self.items = items
        self.servedAt = servedAt
    }

    /// The record as a JSON object (the writer sorts the keys: canonical JSON, as for events).
    public var jsonValue: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("schema_version", .number(String(Self.schemaVersion))),
            ("recommendation_id", .string(recommendationID)),
            ("user_id", .string(userID)),
            ("domain", .string(domain.name)),
            ("strategy", .string(strategy)),
            ("model_version", modelVersion.map { .string($0) } ?? .null),
            ("items", .array(items.map { .object([("item_id", .string($0.itemID)), ("position", .number(String($0.position)))]) })),
            ("served_at", .string(servedAt.description)),
        ]
        if let experimentID { members.append(("experiment_id", .string(experimentID))) }
        if let variant { members.append(("variant", .string(variant))) }
        return .object(members)
    }

    /// Canonical JSON: keys sorted by their bytes, no insignificant whitespace; the same record always
    /// encodes to the same bytes (those of `JSONWriter.encode(jsonValue)`).
    ///
    /// Written straight to bytes, keys in their sorted order, without the JSON tree of ``jsonValue``: the
    /// API encodes one record per answer it serves, and the tree (an object and its sorted copy per item,
    /// a string per position) cost more than the rest of the emit (docs/benchmarks.md, issue 23).
    public func canonicalJSON() -> [UInt8] {
        var writer = JSONWriter(capacity: 232 + 40 * items.count)
        writer.append(UInt8(ascii: "{"))
        writer.key("domain", first: true)
        writer.string(domain.name)
        if let experimentID {
            writer.key("experiment_id")
            writer.string(experimentID)
        }
        writer.key("items")
        writer.append(UInt8(ascii: "["))
        for (offset, item) in items.enumerated() {
            if offset > 0 { writer.append(UInt8(ascii: ",")) }
            writer.append(UInt8(ascii: "{"))
            writer.key("item_id", first: true)
            writer.string(item.itemID)
            writer.key("position")
            writer.integer(item.position)
            writer.append(UInt8(ascii: "}"))
        }
        writer.append(UInt8(ascii: "]"))
        writer.key("model_version")
        if let modelVersion { writer.string(modelVersion) } else { writer.raw("null") }
        writer.key("recommendation_id")
        writer.string(recommendationID)
        writer.key("schema_version")
        writer.integer(Self.schemaVersion)
        writer.key("served_at")
        writer.append(UInt8(ascii: "\""))
        writer.append(contentsOf: RFC3339.formatBytes(servedAt))
        writer.append(UInt8(ascii: "\""))
        writer.key("strategy")
        writer.string(strategy)
        writer.key("user_id")
        writer.string(userID)
        if let variant {
            writer.key("variant")
            writer.string(variant)
        }
        writer.append(UInt8(ascii: "}"))
        return writer.bytes
    }

    /// Reads a record value. Refuses what the API would not have written, naming the field; ignores
    /// unknown fields (a later v1 may add some).
    public static func decode(_ bytes: some Collection<UInt8>) throws(EventValidationError) -> RecommendationServed {
        let json: JSONValue
        do throws(JSONParseError) {
            json = try JSONParser.parse(bytes)
        } catch {
            throw EventValidator.error(from: error)
        }
        guard case .object(let members) = json else {
            throw EventValidationError(.notAnObject, field: nil, "a recommendation.served record is a JSON object")
        }
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        func string(_ name: String) throws(EventValidationError) -> String {
            guard let value = fields[name] else { throw EventValidationError(.missingField, field: name, "\(name) is required") }
            guard case .string(let text) = value, !text.isEmpty else { throw EventValidationError(.wrongType, field: name, "\(name) must be a non-empty string") }
            return text
        }
        func optionalString(_ name: String) throws(EventValidationError) -> String? {
            switch fields[name] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            default: throw EventValidationError(.wrongType, field: name, "\(name) must be a string")
            }
        }
        guard case .number(let versionText)? = fields["schema_version"], let version = Int(versionText) ?? Double(versionText).map({ Int($0) }) else {
            throw EventValidationError(.missingField, field: "schema_version", "schema_version is required")
        }
        guard version == schemaVersion else {
            throw EventValidationError(.outOfRange, field: "schema_version", "schema_version \(version) is not 1")
        }
        let domainName = try string("domain")
        guard let domain = EventDomain(name: domainName) else {
            throw EventValidationError(.outOfRange, field: "domain", "domain is movies or polls")
        }
        guard let servedAt = RFC3339.parse(try string("served_at")) else {
            throw EventValidationError(.invalidFormat, field: "served_at", "served_at must be an RFC 3339 date-time")
        }
        guard case .array(let itemValues)? = fields["items"] else {
            throw EventValidationError(.missingField, field: "items", "items is required (an array)")
        }
        var items: [ServedItem] = []
        items.reserveCapacity(itemValues.count)
        for (index, value) in itemValues.enumerated() {
            guard case .object(let itemMembers) = value,
                  case .string(let itemID)? = itemMembers.first(where: { $0.key == "item_id" })?.value,
                  case .number(let positionText)? = itemMembers.first(where: { $0.key == "position" })?.value,
                  let position = Int(positionText) ?? Double(positionText).map({ Int($0) }), position >= 1
            else {
                throw EventValidationError(.wrongType, field: "items[\(index)]", "an item is {\"item_id\": string, \"position\": integer ≥ 1}")
            }
            items.append(ServedItem(itemID: itemID, position: position))
        }
        return RecommendationServed(
            recommendationID: try string("recommendation_id"), userID: try string("user_id"), domain: domain, strategy: try string("strategy"),
            modelVersion: try optionalString("model_version"), experimentID: try optionalString("experiment_id"), variant: try optionalString("variant"),
            items: items, servedAt: servedAt
        )
    }
}
