import Datasets
import Foundation
import Serving

/// The cost of `POST /v1/predict`'s title look-ups on MovieLens 100K's 1,682 titles: a title with one
/// typo, resolved through the trigram index and by comparing it with every title (the look-up before
/// the index), and the worst request the route accepts (20 titles needing typo matching, the cap, and
/// 480 exact ones), as 20 concurrent callers would send it.
///
///   streamrec-bench title-resolution --data data/ml-100k [--queries 500] [--rounds 5]
func titleResolution(_ arguments: TitleResolutionBenchmark) throws {
    let directory = arguments.data
    let layout = MovieLens.Layout.allCases.first { FileManager.default.fileExists(atPath: directory + "/" + $0.files.movies) } ?? .recbole100K
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + layout.files.movies)))
    let movies = try MovieLens.parseMovies(MovieLens.text(bytes), layout: layout)
    let index = TitleIndex(movies.map { TitleIndex.Entry(id: $0.id, title: $0.title, year: $0.year) })
    // One letter replaced in the middle of each title (deterministic): what a hurried user types.
    let misspelt = movies.prefix(arguments.queries).map { movie -> String in
        var letters = Array(movie.title)
        let at = letters.count / 2
        letters[at] = letters[at] == "q" ? "z" : "q"
        return String(letters)
    }
    let exact = movies.suffix(480).map(\.title)
    let rounds = arguments.rounds
    func timed(_ body: () -> Void) -> Duration {
        var times: [Duration] = []
        for _ in 0..<rounds {
            let started = ContinuousClock.now
            body()
            times.append(ContinuousClock.now - started)
        }
        return times.sorted()[times.count / 2]
    }
    // Matches must be the same; suggestions for a title matching nothing come from fewer candidates.
    var agreed = 0
    var unmatched = 0
    for query in misspelt {
        switch (index.resolve(query), index.resolve(query, scanningEveryTitle: true)) {
        case (.matched(let a, let typosA), .matched(let b, let typosB)) where Set(a) == Set(b) && typosA == typosB: agreed += 1
        case (.unknown, .unknown): agreed += 1; unmatched += 1
        case (let found, let scanned): print("differs: \(query): \(found) against \(scanned)")
        }
    }
    let indexed = timed { for query in misspelt { _ = index.resolve(query) } }
    let scanned = timed { for query in misspelt { _ = index.resolve(query, scanningEveryTitle: true) } }
    let perTitle = { (total: Duration) in String(format: "%.1f", total.inSeconds * 1e6 / Double(misspelt.count)) }
    print("result name=title-typo-lookup titles=\(movies.count) queries=\(misspelt.count) same_match=\(agreed) unmatched=\(unmatched) index_us_per_title=\(perTitle(indexed)) scan_us_per_title=\(perTitle(scanned)) speedup=\(String(format: "%.1f", scanned.inSeconds / indexed.inSeconds))")
    // The worst accepted body: 20 typo look-ups (the cap) and 480 exact titles.
    let worst = Array(misspelt.prefix(20)) + exact
    let worstIndexed = timed { for title in worst where !index.matchesExactly(title) { _ = index.resolve(title) } }
    // Before the cap and the index, the worst body was 500 typo titles, each compared with every title.
    print(
        "result name=predict-worst-body typo_titles=20 exact_titles=480 index_ms=\(String(format: "%.2f", worstIndexed.inSeconds * 1000))"
            + " twenty_callers_cpu_ms=\(String(format: "%.1f", worstIndexed.inSeconds * 20_000))"
            + " before_500_typo_titles_scanned_ms=\(String(format: "%.2f", scanned.inSeconds * 1000))"
    )
}
