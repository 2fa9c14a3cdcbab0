/// What every StreamRec executable answers to `--version`: one constant for all six binaries, so a
/// deployment's images and their `--version` agree (deploy/overlays/example tags the image 1.0.0).
public enum BuildInfo {
    public static let version = "1.0.0"
}
