import Recommender

/// What the trainer ships to the API for one domain: the id maps, the implicit ALS model (personalised
/// and fold-in recommendations, similar items), the biased MF rating model where the domain has explicit
/// ratings (predicted ratings), and popularity per item (the fallback). The artifact payload.
public struct ModelBundle: Sendable {
    public var userIDs: [String]
    public var itemIDs: [String]
    public var implicitALS: ImplicitALS
    public var ratings: BiasedMF?
    /// Per item index: training popularity (weighted interaction count).
    public var popularity: [Float]

    public init(userIDs: [String], itemIDs: [String], implicitALS: ImplicitALS, ratings: BiasedMF?, popularity: [Float]) {
        self.userIDs = userIDs
        self.itemIDs = itemIDs
        self.implicitALS = implicitALS
        self.ratings = ratings
        self.popularity = popularity
    }

    static let payloadVersion: UInt32 = 1

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.payloadVersion)
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
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(ModelArtifactError) -> ModelBundle {
        var reader = BinaryReader(bytes)
        guard try reader.read(UInt32.self) == payloadVersion else { throw .invalidPayload("unknown bundle version") }
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
        guard reader.isAtEnd else { throw .invalidPayload("trailing bytes") }
        return ModelBundle(userIDs: users, itemIDs: items, implicitALS: implicitALS, ratings: ratings, popularity: popularity)
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

    mutating func readFloats() throws(ModelArtifactError) -> [Float] {
        let count = bytes.readLittleEndian(UInt64.self, at: try take(8))
        guard count <= UInt64(bytes.count - offset) / 4 else { throw .invalidPayload("float count") }
        let start = try take(Int(count) * 4)
        return (0..<Int(count)).map { Float(bitPattern: bytes.readLittleEndian(UInt32.self, at: start + $0 * 4)) }
    }
}
