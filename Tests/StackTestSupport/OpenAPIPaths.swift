import Foundation

/// The operations an OpenAPI file declares, as "METHOD /path/{param}" (as Hummingbird lists routes), read
/// from the repository's YAML layout: paths indented two spaces, methods four.
public enum OpenAPIPaths {
    public static func operations(file: String) throws -> Set<String> {
        let text = try String(contentsOfFile: TestStack.repositoryRoot + "/" + file, encoding: .utf8)
        var operations: Set<String> = []
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if !line.hasPrefix("  ") {
                path = nil
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let method = line.dropFirst(4).prefix { $0 != ":" }
                if ["get", "post", "put", "patch", "delete"].contains(method) { operations.insert("\(method.uppercased()) \(path)") }
            }
        }
        return operations
    }
}
