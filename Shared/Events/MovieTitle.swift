/// How a movie's title carries its release year where titles are written by people: "Toy Story (1995)",
/// in the MovieLens files and in what callers of the API type. One rule for both, so that a title read
/// from a dataset and the same title typed back resolve alike.
public enum MovieTitle {
    /// `Toy Story (1995)` → ("Toy Story", 1995). The parentheses at the end count as a year when their
    /// first four characters are one from 1870 to 2100: the newer MovieLens files give a series' years as
    /// a range, "(2007-2013)", read as its first year. Anything else stays part of the title, trimmed of
    /// spaces and tabs.
    public static func splitYear(_ raw: String) -> (title: String, year: Int?) {
        let title = trimmed(Substring(raw))
        guard title.hasSuffix(")"), let open = title.lastIndex(of: "(") else { return (String(title), nil) }
        let inside = title[title.index(after: open)..<title.index(before: title.endIndex)]
        guard let year = Int(inside.prefix(4)), (1870...2100).contains(year) else { return (String(title), nil) }
        return (String(trimmed(title[..<open])), year)
    }

    /// Without spaces and tabs at either end (what Foundation's `.whitespaces` trims; Events does without
    /// Foundation).
    static func trimmed(_ text: Substring) -> Substring {
        let isBlank = { (character: Character) in character.isWhitespace && !character.isNewline }
        guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) }) else { return "" }
        return text[first...last]
    }
}
