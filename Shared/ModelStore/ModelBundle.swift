import Recommender

/// What the trainer ships to the API for one domain: the id maps, the implicit ALS model (fold-in,
/// "because you liked", and the top-N model when it won), the sequence-aware EASE model when it won the
/// top-N choice (``TopNSelection``), every training user's history (scored by the top-N model and never
/// recommended back), the biased MF rating model where the domain has explicit ratings (predicted
/// ratings), the Bayesian MF fold-in where it predicted held-out ratings better, and popularity per item
/// (the fallback). The artifact payload.
public struct ModelBundle: Sendable {
    public var userIDs: [String]
    public var itemIDs: [String]
    public var implicitALS: ImplicitALS
    public var ratings: BiasedMF?
    /// Per item index: training popularity (weighted interaction count).
    public var popularity: [Float]
    /// Every training user's interactions in time order, weighted as the top-N model's input.
    public var histories: UserHistories
    /// The top-N model when sequence-aware EASE won the choice; nil: implicit ALS serves top-N.
    public var sequenceAwareEASE: SequenceAwareEASE?
    /// The rating model of `POST /v1/predict` when Bayesian MF won the rating choice; nil: biased MF.
    public var bayesianRatings: BayesianFoldIn?

    public init(
        userIDs: [String], itemIDs: [String], implicitALS: ImplicitALS, ratings: BiasedMF?, popularity: [Float],
        histories: UserHistories? = nil, sequenceAwareEASE: SequenceAwareEASE? = nil, bayesianRatings: BayesianFoldIn? = nil
    ) {
        self.bayesianRatings = bayesianRatings
        self.userIDs = userIDs
        self.itemIDs = itemIDs
        self.implicitALS = implicitALS
        self.ratings = ratings
        self.popularity = popularity
        self.histories = histories ?? UserHistories(offsets: [Int](repeating: 0, count: userIDs.count + 1), items: [], weights: [])!
        self.sequenceAwareEASE = sequenceAwareEASE
    }

    /// The model that answers top-N requests.
    public var topNKind: TopNKind { sequenceAwareEASE == nil ? .implicitALS : .sequenceAwareEASE }

    /// 1: ALS, biased MF, popularity. 2: and the histories and the optional sequence-aware EASE (1 is
    /// still read: no histories, ALS serves). 3: and the optional Bayesian MF fold-in (2 is still read). 4: and
    /// the fold-in's optional recent bias (``BayesianFoldIn/RecentBias``) and item offsets (3 is still read:
    /// neither).
    static let payloadVersion: UInt32 = 4

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        // Without the Bayesian part, version 2, and without its recent bias, 3: an older API still reads the
        // artifact.
        let version: UInt32 = bayesianRatings.map { $0.recentBias == nil && $0.itemOffsets.isEmpty ? 3 : Self.payloadVersion } ?? 2
        writer.write(version)
        writer.write(userIDs)
        writer.write(itemIDs)
        let als = implicitALS.configuration
        writer.write(UInt32(als.factors))
        writer.write(UInt32(als.iterations))
        writer.write(als.regularization)
        writer.write(als.alpha)
        writer.write(als.unobservedWeight)
        writer.write(UInt32(als.conjugateGradientSteps))
        writer.write(implicitALS.userFactors)
        writer.write(implicitALS.itemFactors)
        writer.write(UInt32(ratings == nil ? 0 : 1))
        if let ratings {
            let configuration = ratings.configuration
            writer.write(UInt32(configuration.factors))
            writer.write(configuration.ratingRange.lowerBound)
            writer.write(configuration.ratingRange.upperBound)
            writer.write(ratings.globalMean)
            writer.write(ratings.userBias)
            writer.write(ratings.itemBias)
            writer.write(ratings.userFactors)
            writer.write(ratings.itemFactors)
        }
        writer.write(popularity)
        writer.write(histories.offsets.map { UInt32($0) })
        writer.write(histories.items.map { UInt32(bitPattern: $0) })
        writer.write(histories.weights)
        writer.write(UInt32(sequenceAwareEASE == nil ? 0 : 1))
        if let model = sequenceAwareEASE {
            let configuration = model.configuration
            writer.write(configuration.ease.regularization)
            writer.write(configuration.otherWeight)
            writer.write(configuration.easeWeight)
            writer.write(UInt32(configuration.transitions.window))
            writer.write(UInt32(configuration.transitions.recentItems))
            writer.write(configuration.transitions.shrinkage)
            writer.write(model.ease.weights)
            writer.write(model.transitions.weights)
        }
        if let model = bayesianRatings {
            writer.write(UInt32(1))
            writer.write(UInt32(model.factors))
            writer.write(model.ratingRange.lowerBound)
            writer.write(model.ratingRange.upperBound)
            writer.write(model.globalBiases)
            writer.write(model.noisePrecisions)
            writer.write(model.priorMeans)
            writer.write(model.priorPrecisions)
            writer.write(model.itemBiases)
            writer.write(model.itemFactors)
            writer.write(model.knownItems)
            if version >= 4 {
                writer.write(UInt32(model.recentBias == nil ? 0 : 1))
                if let recentBias = model.recentBias {
                    writer.write(recentBias.share)
                    writer.write(recentBias.precision)
                    writer.write(recentBias.decay)
                }
                writer.write(model.itemOffsets)
            }
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(ModelArtifactError) -> ModelBundle {
        var reader = BinaryReader(bytes)
        let version = try reader.read(UInt32.self)
        guard (1...payloadVersion).contains(version) else { throw .invalidPayload("unknown bundle version \(version)") }
        let users = try reader.readStrings()
        let items = try reader.readStrings()
        var als = ImplicitALS.Configuration()
        als.factors = Int(try reader.read(UInt32.self))
        als.iterations = Int(try reader.read(UInt32.self))
        als.regularization = try reader.read(Float.self)
        als.alpha = try reader.read(Float.self)
        als.unobservedWeight = try reader.read(Float.self)
        als.conjugateGradientSteps = Int(try reader.read(UInt32.self))
        let alsUsers = try reader.readFloats()
        let alsItems = try reader.readFloats()
        guard als.factors > 0, alsUsers.count == users.count * als.factors, alsItems.count == items.count * als.factors else {
            throw .invalidPayload("ALS factor shapes do not match the id maps")
        }
        let implicitALS = ImplicitALS(configuration: als, userCount: users.count, itemCount: items.count, userFactors: alsUsers, itemFactors: alsItems)
        var ratings: BiasedMF?
        if try reader.read(UInt32.self) == 1 {
            var configuration = BiasedMF.Configuration()
            configuration.factors = Int(try reader.read(UInt32.self))
            let lower = try reader.read(Float.self)
            let upper = try reader.read(Float.self)
            guard lower <= upper else { throw .invalidPayload("rating range") }
            configuration.ratingRange = lower...upper
            let mean = try reader.read(Float.self)
            let userBias = try reader.readFloats()
            let itemBias = try reader.readFloats()
            let userFactors = try reader.readFloats()
            let itemFactors = try reader.readFloats()
            guard configuration.factors > 0, userBias.count == users.count, itemBias.count == items.count,
                userFactors.count == users.count * configuration.factors, itemFactors.count == items.count * configuration.factors
            else { throw .invalidPayload("rating model shapes do not match the id maps") }
            ratings = BiasedMF(
                configuration: configuration, userCount: users.count, itemCount: items.count, globalMean: mean, userBias: userBias,
                itemBias: itemBias, userFactors: userFactors, itemFactors: itemFactors
            )
        }
        let popularity = try reader.readFloats()
        guard popularity.count == items.count else { throw .invalidPayload("popularity length") }
        var histories: UserHistories?
        var sequenceAwareEASE: SequenceAwareEASE?
        if version >= 2 {
            let offsets = try reader.readUInt32s().map(Int.init)
            let historyItems = try reader.readUInt32s().map { Int32(bitPattern: $0) }
            let weights = try reader.readFloats()
            guard offsets.count == users.count + 1, historyItems.allSatisfy({ $0 >= 0 && Int($0) < items.count }),
                let decoded = UserHistories(offsets: offsets, items: historyItems, weights: weights)
            else { throw .invalidPayload("histories do not match the id maps") }
            histories = decoded
            if try reader.read(UInt32.self) == 1 {
                var configuration = SequenceAwareEASE.Configuration()
                configuration.ease.regularization = try reader.read(Float.self)
                configuration.otherWeight = try reader.read(Float.self)
                configuration.easeWeight = try reader.read(Float.self)
                configuration.transitions.window = Int(try reader.read(UInt32.self))
                configuration.transitions.recentItems = Int(try reader.read(UInt32.self))
                configuration.transitions.shrinkage = try reader.read(Float.self)
                let easeWeights = try reader.readFloats()
                let transitionWeights = try reader.readFloats()
                let square = items.count * items.count
                guard easeWeights.count == square, transitionWeights.count == square || (transitionWeights.isEmpty && configuration.easeWeight >= 1) else {
                    throw .invalidPayload("item–item weights do not match the catalog")
                }
                sequenceAwareEASE = SequenceAwareEASE(
                    configuration: configuration, ease: EASE(configuration: configuration.ease, itemCount: items.count, weights: easeWeights),
                    transitions: NextItemTransitions(configuration: configuration.transitions, itemCount: transitionWeights.isEmpty ? 0 : items.count, weights: transitionWeights)
                )
            }
        }
        var bayesianRatings: BayesianFoldIn?
        if version >= 3, try reader.read(UInt32.self) == 1 {
            let factors = Int(try reader.read(UInt32.self))
            let lower = try reader.read(Float.self)
            let upper = try reader.read(Float.self)
            guard lower <= upper else { throw .invalidPayload("Bayesian MF rating range") }
            let globalBiases = try reader.readFloats()
            let noisePrecisions = try reader.readFloats()
            let priorMeans = try reader.readFloats()
            let priorPrecisions = try reader.readFloats()
            let itemBiases = try reader.readFloats()
            let itemFactors = try reader.readFloats()
            let knownItems = try reader.readFloats()
            var recentBias: BayesianFoldIn.RecentBias?
            var itemOffsets: [Float] = []
            if version >= 4 {
                if try reader.read(UInt32.self) == 1 {
                    recentBias = .init(share: try reader.read(Float.self), precision: try reader.read(Float.self), decay: try reader.read(Float.self))
                }
                itemOffsets = try reader.readFloats()
            }
            guard let model = BayesianFoldIn(
                factors: factors, itemCount: items.count, ratingRange: lower...upper, globalBiases: globalBiases, noisePrecisions: noisePrecisions,
                priorMeans: priorMeans, priorPrecisions: priorPrecisions, itemBiases: itemBiases, itemFactors: itemFactors, knownItems: knownItems,
                recentBias: recentBias, itemOffsets: itemOffsets
            ) else { throw .invalidPayload("Bayesian MF shapes do not match the catalog") }
            bayesianRatings = model
        }
        guard reader.isAtEnd else { throw .invalidPayload("trailing bytes") }
        return ModelBundle(
            userIDs: users, itemIDs: items, implicitALS: implicitALS, ratings: ratings, popularity: popularity, histories: histories,
            sequenceAwareEASE: sequenceAwareEASE, bayesianRatings: bayesianRatings
        )
    }
}

/// Little-endian binary encoding of the payload's parts.
struct BinaryWriter {
    var bytes: [UInt8] = []

    mutating func write(_ value: UInt32) { bytes.appendLittleEndian(value) }
    mutating func write(_ value: Float) { bytes.appendLittleEndian(value.bitPattern) }

    mutating func write(_ strings: [String]) {
        write(UInt32(strings.count))
        for string in strings {
            write(UInt32(string.utf8.count))
            bytes.append(contentsOf: string.utf8)
        }
    }

    mutating func write(_ values: [UInt32]) {
        bytes.appendLittleEndian(UInt64(values.count))
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for value in values { bytes.appendLittleEndian(value) }
    }

    mutating func write(_ floats: [Float]) {
        bytes.appendLittleEndian(UInt64(floats.count))
        bytes.reserveCapacity(bytes.count + floats.count * 4)
        for value in floats { bytes.appendLittleEndian(value.bitPattern) }
    }
}

struct BinaryReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int) throws(ModelArtifactError) -> Int {
        guard count >= 0, count <= bytes.count - offset else { throw .invalidPayload("ends early at byte \(offset)") }
        defer { offset += count }
        return offset
    }

    mutating func read(_ type: UInt32.Type) throws(ModelArtifactError) -> UInt32 {
        bytes.readLittleEndian(UInt32.self, at: try take(4))
    }

    mutating func read(_ type: Float.Type) throws(ModelArtifactError) -> Float {
        Float(bitPattern: bytes.readLittleEndian(UInt32.self, at: try take(4)))
    }

    mutating func readStrings() throws(ModelArtifactError) -> [String] {
        let count = Int(try read(UInt32.self))
        guard count <= bytes.count - offset else { throw .invalidPayload("string count") }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try read(UInt32.self))
            let start = try take(length)
            strings.append(String(decoding: bytes[start..<start + length], as: UTF8.self))
        }
        return strings
    }

    mutating func readUInt32s() throws(ModelArtifactError) -> [UInt32] {
        let count = bytes.readLittleEndian(UInt64.self, at: try take(8))
        guard count <= UInt64(bytes.count - offset) / 4 else { throw .invalidPayload("count") }
        let start = try take(Int(count) * 4)
        return (0..<Int(count)).map { bytes.readLittleEndian(UInt32.self, at: start + $0 * 4) }
    }

    mutating func readFloats() throws(ModelArtifactError) -> [Float] {
        let count = bytes.readLittleEndian(UInt64.self, at: try take(8))
        guard count <= UInt64(bytes.count - offset) / 4 else { throw .invalidPayload("float count") }
        let start = try take(Int(count) * 4)
        return (0..<Int(count)).map { Float(bitPattern: bytes.readLittleEndian(UInt32.self, at: start + $0 * 4)) }
    }
}
