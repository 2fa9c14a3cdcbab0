import ClientRuntime
import Events
import ModelRegistry
import ModelStore

/// Registered model versions served besides production: an experiment's control or challenger named by
/// version (`model:<version>`). Loaded and verified like production models (the registry's SHA-256), kept
/// while an experiment names them.
extension ModelRepository {
    /// The loaded version, if it is production or was loaded by ``loadVersion(_:)``.
    public func model(version: String) -> ServingModel? {
        if let loaded = versions.withLock({ $0[version] }) { return loaded }
        for domain in [EventDomain.movie, .poll] where model(for: domain)?.manifest.version == version { return model(for: domain) }
        return nil
    }

    /// Loads a registered version (no-op if loaded). Throws if it is not registered or its artifact is
    /// missing, corrupted or not the registry's.
    public func loadVersion(_ version: String) async throws {
        if model(version: version) != nil { return }
        guard let entry = try await registry.entry(version) else { throw RegistryError.unknownVersion(version) }
        let artifacts = artifacts
        let quantizedScoringMinItems = quantizedScoringMinItems
        let loaded: Result<ServingModel, any Error> = await onDedicatedThread {
            Result {
                let artifact = try artifacts.read(path: entry.path)
                guard artifact.payloadSHA256 == entry.sha256 else {
                    throw ModelArtifactError.checksumMismatch(part: "payload (registry sha256 \(entry.sha256.prefix(12))…)")
                }
                return ServingModel(manifest: artifact.manifest, bundle: try ModelBundle.decode(artifact.payload), quantizedScoringMinItems: quantizedScoringMinItems)
            }
        }
        let model = try loaded.get()
        versions.withLock { $0[version] = model }
    }

    /// Forgets loaded versions not in `keep` (experiments stopped).
    public func retainVersions(_ keep: Set<String>) {
        versions.withLock { loaded in loaded = loaded.filter { keep.contains($0.key) } }
    }
}
