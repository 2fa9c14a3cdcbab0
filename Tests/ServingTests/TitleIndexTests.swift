import Serving
import StackTestSupport
import SyntheticData
import Testing

@Suite("Title resolution: spelling, articles, year, typos")
struct TitleIndexTests {
    static let index = TitleIndex([
        .init(id: "1", title: "Toy Story", year: 1995),
        .init(id: "2", title: "Matrix, The", year: 1999),
        .init(id: "3", title: "Shawshank Redemption, The", year: 1994),
        .init(id: "4", title: "Hamlet", year: 1990),
        .init(id: "5", title: "Hamlet", year: 1996),
        .init(id: "6", title: "Horseman on the Roof, The (Hussard sur le toit, Le)", year: 1995),
        .init(id: "7", title: "Amélie", year: 2001),
        .init(id: "8", title: "Truth About Cats & Dogs, The", year: 1996),
        .init(id: "9", title: "Star Wars", year: 1977),
        .init(id: "10", title: "Star Trek: First Contact", year: 1996),
    ])

    static func ids(_ query: String) -> [String]? {
        guard case .matched(let entries, _) = index.resolve(query) else { return nil }
        return entries.map(\.id).sorted()
    }

    @Test("case, punctuation, articles at either end, diacritics, '&', the year optional")
    func spellings() {
        for query in ["Toy Story", "toy story", "TOY STORY (1995)", "  toy   story!  ", "Toy-Story"] { #expect(Self.ids(query) == ["1"], "\(query)") }
        for query in ["Matrix, The", "The Matrix", "the matrix (1999)", "matrix"] { #expect(Self.ids(query) == ["2"], "\(query)") }
        #expect(Self.ids("Hussard sur le toit") == ["6"])
        #expect(Self.ids("The Horseman on the Roof (1995)") == ["6"])
        #expect(Self.ids("amelie") == ["7"])
        #expect(Self.ids("the truth about cats and dogs") == ["8"])
        #expect(Self.ids("Star Trek First Contact") == ["10"])
    }

    @Test("a remake without a year matches every version; with a year, that one; a wrong year is not a match")
    func years() {
        #expect(Self.ids("Hamlet") == ["4", "5"])
        #expect(Self.ids("Hamlet (1996)") == ["5"])
        #expect(Self.ids("Toy Story (1971)") == nil)
    }

    @Test("typos within a budget that grows with length; the distance is reported")
    func typos() {
        guard case .matched(let entries, let typos) = Self.index.resolve("the shawshank redemtion") else {
            Issue.record("no match")
            return
        }
        #expect(entries.map(\.id) == ["3"] && typos == 1)
        #expect(Self.ids("Toy Stroy") == ["1"])  // a swap counts once
        #expect(Self.ids("Star Wras") == ["9"])
        // Short titles tolerate one edit only.
        #expect(Self.ids("Hamlt") == ["4", "5"])
        #expect(Self.ids("Hmlt") == nil)
    }

    @Test("an unknown title: nothing matched, the nearest titles suggested, nothing for gibberish")
    func unknown() {
        guard case .unknown(let suggestions) = Self.index.resolve("Star Battles") else {
            Issue.record("matched")
            return
        }
        #expect(suggestions.first?.id == "9")
        #expect(Self.index.resolve("qqqqqqqqqqqqqqqqqqqqqqqqqqqqqq") == .unknown(suggestions: []))
        #expect(Self.index.resolve("()") == .unknown(suggestions: []))
    }

    /// The typo search compares only titles that share enough trigrams with the query. Against a scan of
    /// every title (what it replaced) on 1,500 synthetic titles and typed variants of them, it finds the
    /// same matches with the same distances.
    @Test("the trigram-narrowed typo search matches exactly what a scan of every title matches")
    func trigramSearchEqualsAFullScan() {
        var random = SplitMix(42)
        let words = ["star", "war", "love", "night", "day", "man", "woman", "city", "dark", "light", "king", "queen", "story", "dead", "life", "house", "river", "blue", "red", "game", "last", "first", "time", "girl", "boy", "road", "home", "fire", "ice", "moon"]
        func title() -> String { (0..<Int.random(in: 1...5, using: &random)).map { _ in words.randomElement(using: &random)! }.joined(separator: " ") }
        let entries = (0..<1500).map { TitleIndex.Entry(id: String($0), title: title(), year: nil) }
        let index = TitleIndex(entries)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz ".unicodeScalars)
        func typed(_ text: String) -> String {
            var scalars = Array(text.unicodeScalars)
            for _ in 0..<Int.random(in: 0...4, using: &random) where !scalars.isEmpty {
                let at = Int.random(in: 0..<scalars.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: scalars[at] = alphabet.randomElement(using: &random)!
                case 1: scalars.remove(at: at)
                case 2: scalars.insert(alphabet.randomElement(using: &random)!, at: at)
                default: if at + 1 < scalars.count { scalars.swapAt(at, at + 1) }
                }
            }
            return String(String.UnicodeScalarView(scalars))
        }
        var compared = 0
        var withTypos = 0
        for _ in 0..<600 {
            let query = typed(entries.randomElement(using: &random)!.title)
            let expected = index.resolve(query, scanningEveryTitle: true)
            let found = index.resolve(query)
            switch (found, expected) {
            case (.matched(let entries, let typos), .matched(let scannedEntries, let scannedTypos)):
                #expect(Set(entries.map(\.id)) == Set(scannedEntries.map(\.id)) && typos == scannedTypos, "\(query)")
                if typos > 0 { withTypos += 1 }
            case (.unknown, .unknown):
                break
            default:
                Issue.record("\(query): \(found) against \(expected) by scanning every title")
            }
            compared += 1
        }
        #expect(compared == 600 && withTypos > 150)
    }
}
