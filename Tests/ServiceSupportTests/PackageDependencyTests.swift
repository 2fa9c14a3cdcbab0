import Foundation
import StackTestSupport
import Testing

/// Every module a target's files import is declared in that target's dependencies in Package.swift.
/// Without the declaration the build still works while another dependency happens to bring the module
/// in, and breaks, far from the cause, when that one goes.
@Suite("Package.swift declares what each target imports")
struct PackageDependencyTests {
    /// The toolchain's and the platform's modules, which no target declares.
    static let systemModules: Set<String> = ["Foundation", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Synchronization", "Testing", "XCTest"]

    struct Target {
        let name: String
        let path: String
        let dependencies: Set<String>
    }

    /// The targets of Package.swift: name, source folder (declared, or `Tests/<name>` for a test target)
    /// and the names of the target and product dependencies.
    static func targets() throws -> [Target] {
        let manifest = try String(contentsOfFile: TestStack.repositoryRoot + "/Package.swift", encoding: .utf8)
        // The package's target list (the products' `targets: [...]` are indented deeper).
        guard let list = manifest.range(of: "\n    targets: [") else { return [] }
        let body = String(manifest[list.upperBound...])
        var targets: [Target] = []
        for kind in [".target(", ".executableTarget(", ".testTarget("] {
            for declaration in body.components(separatedBy: kind).dropFirst() {
                // A declaration ends where the next one starts; the split already cut it there, except for
                // what follows the last one, which names no dependency.
                let text = declaration.components(separatedBy: ".target(")[0].components(separatedBy: ".executableTarget(")[0]
                    .components(separatedBy: ".testTarget(")[0].components(separatedBy: ".systemLibrary(")[0]
                guard let name = Self.firstQuoted(after: "name: ", in: text) else { continue }
                let path = Self.firstQuoted(after: "path: ", in: text) ?? (kind == ".testTarget(" ? "Tests/\(name)" : "Sources/\(name)")
                var dependencies: Set<String> = []
                if let list = text.range(of: "dependencies: [") {
                    var depth = 1
                    var index = list.upperBound
                    while index < text.endIndex, depth > 0 {
                        if text[index] == "[" { depth += 1 } else if text[index] == "]" { depth -= 1 }
                        index = text.index(after: index)
                    }
                    let entries = text[list.upperBound..<index]
                    // `"Events"` and `.product(name: "Logging", package: "swift-log")`: every quoted word
                    // except the package names.
                    let quoted = entries.components(separatedBy: "\"")
                    for (offset, word) in quoted.enumerated() where offset % 2 == 1 && !quoted[offset - 1].hasSuffix("package: ") {
                        dependencies.insert(word)
                    }
                }
                targets.append(Target(name: name, path: path, dependencies: dependencies))
            }
        }
        return targets
    }

    static func firstQuoted(after label: String, in text: String) -> String? {
        guard let start = text.range(of: label + "\"") else { return nil }
        return text[start.upperBound...].split(separator: "\"", maxSplits: 1).first.map(String.init)
    }

    /// The modules the Swift files under `path` import.
    static func imports(under path: String) -> Set<String> {
        let base = TestStack.repositoryRoot + "/" + path
        let files = FileManager.default.enumerator(atPath: base)?.allObjects as? [String] ?? []
        var modules: Set<String> = []
        for file in files where file.hasSuffix(".swift") {
            let text = (try? String(contentsOfFile: base + "/" + file, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count, words[..<index].allSatisfy({ $0.hasPrefix("@") }) else { continue }
                let target = words.count > index + 2 && ["struct", "class", "enum", "protocol", "func"].contains(words[index + 1]) ? words[index + 2] : words[index + 1]
                modules.insert(String(target.split(separator: ".")[0]))
            }
        }
        return modules
    }

    @Test("each target declares every module its files import")
    func importsAreDeclared() throws {
        let targets = try Self.targets()
        #expect(targets.contains { $0.name == "ServiceSupport" } && targets.contains { $0.name == "IngestTests" }, "the manifest's targets were found")
        for target in targets {
            let undeclared = Self.imports(under: target.path).subtracting(target.dependencies).subtracting(Self.systemModules)
            #expect(undeclared.isEmpty, "\(target.name) imports \(undeclared.sorted()) without declaring them in Package.swift")
        }
    }
}
