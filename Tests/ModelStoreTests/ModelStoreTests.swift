import Events
import Foundation
import ModelStore
import Recommender
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test func standardTestVectors() {
        #expect(SHA256.hex(SHA256.hash(Array("".utf8))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
        #expect(SHA256.hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalUpdatesEqualOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for split in [0, 1, 63, 64, 65, 500, 999] {
            var hasher = SHA256()
            hasher.update(data[0..<split])
            hasher.update(data[split...])
            #expect(hasher.finalize() == SHA256.hash(data), "split at \(split)")
        }
    }
}

@Suite("Model artifacts")
struct ModelArtifactTests {
    static func manifest(version: String = "movies-20261121000000-abcd1234") -> ModelManifest {
        ModelManifest(
            kind: "movie-bundle", domain: "movies", version: version, createdAt: EventTimestamp(millisecondsSinceEpoch: 1_795_000_000_000),
            dataRows: 3, dataMaxEventTime: EventTimestamp(millisecondsSinceEpoch: 1_794_999_000_000), dataContentHash: "00ff",
            hyperParameters: ["als.factors": "8"], metrics: ["ndcg@10": 0.25, "popularity.ndcg@10": 0.125], codeRevision: "test"
        )
    }

    static func bundle() -> ModelBundle {
        let interactions = [
            Interaction(user: 0, item: 0, value: 5), Interaction(user: 0, item: 1, value: 3), Interaction(user: 1, item: 1, value: 4),
            Interaction(user: 1, item: 2, value: 2), Interaction(user: 2, item: 0, value: 4), Interaction(user: 2, item: 2, value: 5),
        ]
        var alsConfiguration = ImplicitALS.Configuration()
        alsConfiguration.factors = 4
        alsConfiguration.iterations = 3
        let matrix = InteractionMatrix(interactions, userCount: 3, itemCount: 3)
        let als = ImplicitALS.fit(matrix, configuration: alsConfiguration)
        var mfConfiguration = BiasedMF.Configuration()
        mfConfiguration.factors = 4
        mfConfiguration.maximumEpochs = 5
        let mf = BiasedMF.fit(train: interactions, userCount: 3, itemCount: 3, configuration: mfConfiguration).model
        var bayesian = BayesianMF.Configuration()
        bayesian.factors = 2
        bayesian.iterations = 12
        bayesian.burnIn = 2
        let foldIn = BayesianFoldIn(BayesianMF.fit(train: interactions, userCount: 3, itemCount: 3, configuration: bayesian), keeping: 4)
        return ModelBundle(
            userIDs: ["u0", "u1", "u2"], itemIDs: ["m0", "m1", "m2"], implicitALS: als, ratings: mf, popularity: [2, 2, 2], bayesianRatings: foldIn
        )
    }

    func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "artifacts-\(UUID().uuidString.prefix(8))"
    }

    @Test func roundTripThroughTheStoreKeepsEveryParameter() throws {
        let store = ArtifactStore(root: temporaryDirectory())
        defer { try? FileManager.default.removeItem(atPath: store.root) }
        let bundle = Self.bundle()
        let path = try store.write(ModelArtifact(manifest: Self.manifest(), payload: bundle.encoded()))
        let artifact = try store.read(path: path)
        #expect(artifact.manifest == Self.manifest())
        let restored = try ModelBundle.decode(artifact.payload)
        #expect(restored.itemIDs == bundle.itemIDs)
        #expect(restored.implicitALS.itemFactors == bundle.implicitALS.itemFactors)
        #expect(restored.implicitALS.foldIn([(item: 0, value: 1)]) == bundle.implicitALS.foldIn([(item: 0, value: 1)]))
        #expect(restored.ratings?.predict(user: 1, item: 2) == bundle.ratings?.predict(user: 1, item: 2))
        #expect(restored.popularity == [2, 2, 2])
        let given: [(item: Int, rating: Float)] = [(0, 5), (2, 1)]
        let original = try #require(bundle.bayesianRatings)
        let read = try #require(restored.bayesianRatings)
        #expect(read.sampleCount == 4 && read.predict(read.foldIn(given), item: 1) == original.predict(original.foldIn(given), item: 1))
        #expect(store.versions(domain: "movies") == [Self.manifest().version])
    }

    @Test("the fold-in's recent bias survives the round trip (payload version 4); without it the payload stays version 3")
    func recentBiasRoundTrip() throws {
        var bundle = Self.bundle()
        #expect(Array(bundle.encoded().prefix(4)) == [3, 0, 0, 0], "little-endian version 3")
        bundle.bayesianRatings?.recentBias = .init(share: 0.2, precision: 10, decay: 0.5)
        let restored = try ModelBundle.decode(bundle.encoded())
        let read = try #require(restored.bayesianRatings)
        #expect(read.recentBias == .init(share: 0.2, precision: 10, decay: 0.5))
        let original = try #require(bundle.bayesianRatings)
        let given: [(item: Int, rating: Float)] = [(0, 5), (2, 1), (1, 2)]
        #expect(read.predict(read.foldIn(given), item: 1) == original.predict(original.foldIn(given), item: 1))
    }

    @Test func truncatedAndCorruptedFilesAreRefused() throws {
        let bytes = ModelArtifact(manifest: Self.manifest(), payload: Self.bundle().encoded()).encoded()
        // Every truncation, including inside the header, is refused with a clear error.
        for length in [0, 10, 87, 88, 200, bytes.count - 1] {
            #expect(throws: ModelArtifactError.self, "length \(length)") { try ModelArtifact.decode(Array(bytes[0..<length])) }
        }
        if case .truncated(let expected, let actual)? = Self.error(Array(bytes.dropLast())) {
            #expect(expected == bytes.count && actual == bytes.count - 1)
        } else {
            Issue.record("a truncated file must be reported as truncated")
        }
        var payloadFlipped = bytes
        payloadFlipped[bytes.count - 5] ^= 0x01
        #expect(Self.error(payloadFlipped) == .checksumMismatch(part: "payload"))
        var manifestFlipped = bytes
        manifestFlipped[100] ^= 0x01
        #expect(Self.error(manifestFlipped) == .checksumMismatch(part: "manifest"))
        var wrongMagic = bytes
        wrongMagic[0] = UInt8(ascii: "X")
        #expect(Self.error(wrongMagic) == .notAnArtifact)
        var futureVersion = bytes
        futureVersion[8] = 9
        #expect(Self.error(futureVersion) == .unsupportedFormatVersion(9))
        // A valid artifact whose payload is not a bundle.
        let notABundle = ModelArtifact(manifest: Self.manifest(), payload: [1, 2, 3])
        #expect(throws: ModelArtifactError.self) { try ModelBundle.decode(try ModelArtifact.decode(notABundle.encoded()).payload) }
    }

    @Test func pruningKeepsTheNewestAndTheProtectedVersions() throws {
        let store = ArtifactStore(root: temporaryDirectory())
        defer { try? FileManager.default.removeItem(atPath: store.root) }
        let versions = (1...5).map { "movies-2026112100000\($0)-aaaaaaaa" }
        for version in versions { try store.write(ModelArtifact(manifest: Self.manifest(version: version), payload: [])) }
        let deleted = store.prune(domain: "movies", keep: 2, protected: [versions[0]])
        #expect(deleted == [versions[1], versions[2]])
        #expect(store.versions(domain: "movies") == [versions[0], versions[3], versions[4]])
    }

    static func error(_ bytes: [UInt8]) -> ModelArtifactError? {
        do {
            _ = try ModelArtifact.decode(bytes)
            return nil
        } catch {
            return error
        }
    }
}
