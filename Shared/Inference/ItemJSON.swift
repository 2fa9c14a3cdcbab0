import Events
import Features
import Serving

/// An item as the answers describe it: id, score, the catalog's metadata, and a short reason when there
/// is one; as a JSON tree, or written straight to bytes on the hot routes (the two are tested equal).
enum ItemJSON {
    /// An item of a response: id, score, the catalog's metadata, and `because` (the history item it is most
    /// like) as a short reason when there is one.
    /// ``writeItems(_:_:_:catalog:because:)`` writes the same members straight to bytes (tested equal).
    static func item(_ domain: EventDomain, _ scored: ScoredItem, catalog: CatalogMetadata, because: String? = nil) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [("item_id", .string(scored.item)), ("score", .number(String(scored.score)))]
        members.append(contentsOf: catalog.jsonMembers(domain, scored.item))
        if let because { members.append(("reason", reason(domain, because: because, catalog: catalog))) }
        return .object(members)
    }

    static func reason(_ domain: EventDomain, because: String, catalog: CatalogMetadata) -> JSONValue {
        let name = domain == .movie ? catalog.movie(because).map { display($0.title, $0.year) } : catalog.poll(because)?.question
        let verb = domain == .movie ? "liked" : "engaged with"
        return .object([("item_id", .string(because)), ("text", .string("because you \(verb) \(name ?? because)"))])
    }

    /// A JSON array of items, as ``item(_:_:catalog:because:)`` describes each, written to `writer`.
    static func writeItems(
        _ writer: inout JSONWriter, _ domain: EventDomain, _ items: ArraySlice<ScoredItem>, catalog: CatalogMetadata, because: [String: String]
    ) {
        writer.append(UInt8(ascii: "["))
        let fragments = catalog.jsonFragments(domain, items.map(\.item))
        for (offset, scored) in items.enumerated() {
            if offset > 0 { writer.append(UInt8(ascii: ",")) }
            writer.append(UInt8(ascii: "{"))
            writer.key("item_id", first: true)
            writer.string(scored.item)
            writer.key("score")
            writer.number(String(scored.score))
            let fragment = fragments[offset]
            if !fragment.isEmpty {
                writer.append(UInt8(ascii: ","))
                writer.append(contentsOf: fragment)
            }
            if let reason = because[scored.item] {
                writer.key("reason")
                writer.value(Self.reason(domain, because: reason, catalog: catalog))
            }
            writer.append(UInt8(ascii: "}"))
        }
        writer.append(UInt8(ascii: "]"))
    }

    /// A movie's title as answers and suggestions show it: with its year when the catalog has one.
    static func display(_ title: String, _ year: Int?) -> String { year.map { "\(title) (\($0))" } ?? title }

    /// The displayed title of a catalog id; the id itself for a movie the catalog does not know.
    static func displayTitle(_ id: String, catalog: CatalogMetadata) -> String {
        catalog.movie(id).map { display($0.title, $0.year) } ?? id
    }
}
