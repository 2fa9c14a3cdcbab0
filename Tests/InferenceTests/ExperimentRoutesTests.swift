import Events
import Experiments
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import Inference
import Logging
import ModelRegistry
import Serving
import ServingTestSupport
import StackTestSupport
import Synchronization
import Testing

/// Experiments in the API against PostgreSQL and Redis: started and stopped by the admin route, served
/// stickily per user, each answer saying its variant, each arm serving what it names.
@Suite("Experiments: admin routes and served variants", .serialized)
struct ExperimentRoutesTests {
    static let adminToken = "admin-token-0123456789abcdef"

    static func json(_ response: TestResponse) -> [String: JSONValue] {
        guard case .object(let members)? = try? JSONParser.parse(Array(response.body.readableBytesView)) else { return [:] }
        return Dictionary(uniqueKeysWithValues: members.map { ($0.key, $0.value) })
    }

    @Test("admin start (model version against popular), sticky variants in answers, the arms served as named; conflicts and auth refused; stop: no variant")
    func experimentLifecycle() async throws {
        let fixture = try await PollsModelFixture()
        // Nothing loaded as production: the control's model comes from its registered version alone.
        let version = try #require(try await fixture.run.registry.production(domain: "polls")?.version)
        var logger = Logger(label: "experiment-tests")
        logger.logLevel = .critical
        let assignments = ExperimentAssignments(store: ExperimentStore(postgres: fixture.postgres), models: fixture.repository, interval: .seconds(60), logger: logger)
        let catalog = CatalogMetadata()
        try await catalog.refresh(from: fixture.postgres)
        let service = InferenceService(
            engine: fixture.engine, features: fixture.engine.features, catalog: catalog, models: fixture.repository, adminToken: Self.adminToken,
            clock: { Int64(Date().timeIntervalSince1970 * 1000) }, experiments: assignments
        )
        let router = Router()
        router.middlewares.add(ErrorAndRequestIDMiddleware())
        InferenceRoutes.add(to: router, service: service)
        let admin: HTTPFields = [.authorization: "Bearer \(Self.adminToken)", .contentType: "application/json"]
        try await Application(router: router).test(.router) { client in
            let body = #"{"id":"exp-routes","domain":"polls","control":"model:\#(version)","challenger":"popular","challenger_share":0.5}"#
            try await client.execute(uri: "/v1/admin/experiments", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .unauthorized)
            }
            // A version arm must name a registered model of the experiment's domain.
            for (arms, field) in [
                (#""control":"production","challenger":"model:no-such-version""#, "challenger"),
                (#""control":"model:\#(version)","challenger":"popular""#, "control"),  // a polls model, asked for movies
            ] {
                let unregistered = #"{"id":"exp-unregistered","domain":"\#(field == "control" ? "movies" : "polls")",\#(arms),"challenger_share":0.5}"#
                try await client.execute(uri: "/v1/admin/experiments", method: .post, headers: admin, body: ByteBuffer(string: unregistered)) { response in
                    #expect(response.status == .unprocessableContent)
                    guard case .object(let error)? = Self.json(response)["error"] else { Issue.record("no error"); return }
                    #expect(error.first { $0.key == "code" }?.value == .string("unknown_model_version"))
                    #expect(error.first { $0.key == "field" }?.value == .string(field))
                }
            }
            try await client.execute(uri: "/v1/admin/experiments", method: .post, headers: admin, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .created)
                #expect(Self.json(response)["running"] == .bool(true))
            }
            let second = #"{"id":"exp-other","domain":"polls","control":"production","challenger":"popular","challenger_share":0.5}"#
            try await client.execute(uri: "/v1/admin/experiments", method: .post, headers: admin, body: ByteBuffer(string: second)) { response in
                #expect(response.status == .conflict)
                guard case .object(let error)? = Self.json(response)["error"] else { Issue.record("no error"); return }
                #expect(error.first { $0.key == "code" }?.value == .string("experiment_running"))
            }
            let badArm = #"{"id":"exp-bad","domain":"polls","control":"best","challenger":"popular","challenger_share":0.5}"#
            try await client.execute(uri: "/v1/admin/experiments", method: .post, headers: admin, body: ByteBuffer(string: badArm)) { response in
                #expect(response.status == .badRequest)
                guard case .object(let error)? = Self.json(response)["error"] else { Issue.record("no error"); return }
                #expect(error.first { $0.key == "field" }?.value == .string("control"))
            }

            let experiment = try #require(assignments.current.first)
            var seen: [ExperimentVariant: Int] = [:]
            for index in 0..<24 {
                let user = "u\(index)"
                for _ in 0..<2 {  // sticky: twice the same
                    try await client.execute(uri: "/v1/users/\(user)/recommendations?domain=polls&k=5", method: .get) { response in
                        #expect(response.status == .ok)
                        let answer = Self.json(response)
                        let expected = experiment.variant(of: user)
                        #expect(answer["experiment_id"] == .string("exp-routes"))
                        #expect(answer["variant"] == .string(expected.rawValue), "\(user)")
                        if expected == .challenger {
                            #expect(answer["strategy"] == .string("popular"), "\(user)")
                            #expect(answer["model_version"] == .null)
                        } else {
                            #expect(answer["model_version"] == .string(version), "\(user)")
                        }
                        seen[expected, default: 0] += 1
                    }
                }
            }
            #expect(seen[.control, default: 0] > 0 && seen[.challenger, default: 0] > 0, "\(seen)")

            try await client.execute(uri: "/v1/experiments", method: .get) { response in
                #expect(response.status == .ok)
                guard case .array(let listed)? = Self.json(response)["experiments"] else { Issue.record("no list"); return }
                #expect(listed.count == 1)
            }
            try await client.execute(uri: "/v1/admin/experiments/exp-routes/stop", method: .post, headers: admin) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)["running"] == .bool(false))
            }
            try await client.execute(uri: "/v1/admin/experiments/exp-routes/stop", method: .post, headers: admin) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(uri: "/v1/admin/experiments/nothing/stop", method: .post, headers: admin) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/users/u1/recommendations?domain=polls&k=5", method: .get) { response in
                #expect(Self.json(response)["variant"] == .null)
                #expect(Self.json(response)["experiment_id"] == .null)
            }
        }
        // Stopped experiments keep their id: a new one must use another.
        await #expect(throws: ExperimentStore.StoreError.duplicateID("exp-routes")) {
            try await assignments.store.start(id: "exp-routes", domain: .poll, control: .production, challenger: .popularOnly, challengerShare: 0.5)
        }
        try await fixture.finish()
    }
}
