import Foundation
import Logging
import Recommender
import Serving
import ServingTestSupport
import Testing

@Suite("Serving: quantized catalog scoring answers as scoring every item", .serialized)
struct QuantizedServingTests {
    @Test("the same items, scores and strategies for trained users (with exclusions, a group, reasons) and a folded-in new user")
    func sameAnswers() async throws {
        let fixture = try await PollsModelFixture(kind: .implicitALS)
        var logger = Logger(label: "quantized-serving-tests")
        logger.logLevel = .warning
        // The fixture's repository keeps the default (its 120 polls are under it); this one quantizes every catalog.
        let quantizing = ModelRepository(registry: fixture.run.registry, artifacts: fixture.run.artifacts, logger: logger, quantizedScoringMinItems: 0)
        try await fixture.repository.reload(domain: .poll)
        try await quantizing.reload(domain: .poll)
        let full = try #require(fixture.repository.model(for: .poll))
        let model = try #require(quantizing.model(for: .poll))
        #expect(full.quantizedItemFactors == nil)
        #expect((model.quantizedItemFactors != nil) == QuantizedItemFactors.isAccelerated)
        // Not vacuous: the quantized pass answers these users itself (nil would leave them to the full pass).
        if let quantized = model.quantizedItemFactors {
            let als = model.bundle.implicitALS
            for user in model.bundle.userIDs.prefix(60) {
                let vector = try #require(model.userVector(user))
                #expect(vector.withUnsafeBufferPointer { als.topItems(vector: $0, k: 5, quantized: quantized) { _ in false } } != nil, "\(user)")
            }
        }
        var engine = RecommendationEngine(models: quantizing, features: fixture.engine.features, groups: fixture.engine.groups)
        engine.popularMaxAge = .zero
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let group = fixture.data.polls[0].category
        for user in model.bundle.userIDs.prefix(60) {
            for request in [
                RecommendationRequest(user: user, domain: .poll, k: 5),
                RecommendationRequest(user: user, domain: .poll, k: 20, reasons: true),
                RecommendationRequest(user: user, domain: .poll, k: 10, group: group),
                RecommendationRequest(user: user, domain: .poll, k: 10, excludeSeen: false, exclude: Set(fixture.data.polls.prefix(30).map(\.id))),
            ] {
                let expected = try await fixture.engine.recommend(request, now: now)
                let answer = try await engine.recommend(request, now: now)
                #expect(answer.strategy == .personalised && answer == expected, "\(user) k \(request.k)")
            }
        }
        // A user the model does not know, after two votes: folded in, the same answer.
        try await fixture.vote("newcomer", fixture.data.polls[3].id, at: now, offset: 1)
        try await fixture.vote("newcomer", fixture.data.polls[7].id, at: now, offset: 2)
        let request = RecommendationRequest(user: "newcomer", domain: .poll, k: 5)
        let expected = try await fixture.engine.recommend(request, now: now)
        let answer = try await engine.recommend(request, now: now)
        #expect(expected.strategy == .foldIn && answer == expected)
        try await fixture.finish()
    }
}
