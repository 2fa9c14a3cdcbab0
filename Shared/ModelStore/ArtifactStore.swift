#if canImport(Glibc)
import Glibc
#endif

/// Artifacts on disk: `<root>/<domain>/<version>.srmodel`. Written to a temporary file, fsynced, renamed
/// into place and the directory fsynced, so a crash leaves either the whole new file or none; read back
/// with full verification (``ModelArtifact/decode(_:)``).
public struct ArtifactStore: Sendable {
    public let root: String
    public static let fileExtension = ".srmodel"

    public init(root: String) {
        self.root = root
    }

    public func path(domain: String, version: String) -> String { "\(root)/\(domain)/\(version)\(Self.fileExtension)" }

    /// Writes the artifact and returns its path.
    @discardableResult
    public func write(_ artifact: ModelArtifact) throws(ModelArtifactError) -> String {
        let directory = "\(root)/\(artifact.manifest.domain)"
        try makeDirectories(directory)
        let final = path(domain: artifact.manifest.domain, version: artifact.manifest.version)
        let temporary = "\(final).tmp-\(getpid())"
        let bytes = artifact.encoded()
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io("cannot create \(temporary): \(errnoText())") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let result = Glibc.write(descriptor, raw.baseAddress! + written, raw.count - written)
                if result < 0 { if errno == EINTR { continue }; return false }
                written += result
            }
            return fsync(descriptor) == 0
        }
        close(descriptor)
        guard ok else {
            unlink(temporary)
            throw .io("cannot write \(temporary): \(errnoText())")
        }
        guard rename(temporary, final) == 0 else {
            unlink(temporary)
            throw .io("cannot rename into \(final): \(errnoText())")
        }
        syncDirectory(directory)
        return final
    }

    /// Reads and verifies an artifact; throws rather than return anything partial.
    public func read(path: String) throws(ModelArtifactError) -> ModelArtifact {
        try ModelArtifact.decode(try readFile(path))
    }

    /// Versions stored for a domain, oldest first (versions embed their UTC creation time).
    public func versions(domain: String) -> [String] {
        guard let directory = opendir("\(root)/\(domain)") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(Self.fileExtension) { names.append(String(name.dropLast(Self.fileExtension.count))) }
        }
        return names.sorted()
    }

    /// Deletes all but the newest `keep` versions of a domain, never one in `protected` (production and
    /// the version a rollback would restore). Returns the versions deleted.
    @discardableResult
    public func prune(domain: String, keep: Int, protected: Set<String>) -> [String] {
        let versions = versions(domain: domain)
        let doomed = versions.dropLast(max(0, keep)).filter { !protected.contains($0) }
        for version in doomed { unlink(path(domain: domain, version: version)) }
        return Array(doomed)
    }

    private func readFile(_ path: String) throws(ModelArtifactError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io("cannot open \(path): \(errnoText())") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { if errno == EINTR { continue }; throw .io("cannot read \(path): \(errnoText())") }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    private func makeDirectories(_ path: String) throws(ModelArtifactError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw .io("cannot create \(current): \(errnoText())") }
        }
    }

    private func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
