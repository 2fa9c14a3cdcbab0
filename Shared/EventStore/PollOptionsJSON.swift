import Events

/// How a poll's options are stored in `polls.options`: a JSON array of `{"id","text"}` in the poll's
/// order. Written by ``TrainingStore/upsertCatalog(_:)`` and read by ``TrainingStore/catalog()``: one
/// codec, so the two sides cannot drift apart.
public enum PollOptionsJSON {
    public static func encode(_ options: [PollOption]) -> String {
        let json = JSONValue.array(options.map { .object([("id", .string($0.id)), ("text", .string($0.text))]) })
        var writer = JSONWriter(capacity: 256)
        writer.value(json)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The options of a stored array; entries that are not `{"id","text"}` objects are skipped.
    public static func decode(_ json: String) -> [PollOption] {
        guard case .array(let items)? = try? JSONParser.parse(Array(json.utf8)) else { return [] }
        return items.compactMap { item in
            guard case .object(let members) = item,
                case .string(let id)? = members.first(where: { $0.key == "id" })?.value,
                case .string(let text)? = members.first(where: { $0.key == "text" })?.value
            else { return nil }
            return PollOption(id: id, text: text)
        }
    }
}
