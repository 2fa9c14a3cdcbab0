import CBuildInfo

/// What every StreamRec executable answers to `--version`: one constant for all six binaries, so a
/// deployment's images and their `--version` agree (deploy/overlays/example tags the image 1.0.0), and the
/// source revision stamped at build time (`streamrec_build_info{version,revision}` on every service's
/// `/metrics`).
public enum BuildInfo {
    public static let version = "1.0.0"
    /// Git's commit (12 hex digits, `-dirty` with uncommitted changes) or the Dockerfile's `GIT_REVISION`
    /// build argument, else `unknown` (Package.swift stamps it; see `CBuildInfo`).
    public static let revision = String(cString: streamrec_build_revision())
}
