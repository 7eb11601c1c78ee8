import Foundation
import Testing

/// docs/architecture.md points at files instead of restating them; a pointer to a file that was
/// renamed or removed is caught here rather than by a reader.
@Suite struct ArchitectureDocTests {
    private static let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Every `name.swift` (or `.c`, `.sh`) the page names in backquotes must be a file of the
    /// project: a bare name anywhere under Sources, Tests, scripts or Benchmarks, a path (such as
    /// `Pools/Process/ProcessPool.swift`, relative to a module's folder) at the end of one.
    @Test func everySourceFileItNamesExists() throws {
        let text = try String(contentsOf: Self.root.appending(path: "docs/architecture.md"), encoding: .utf8)
        let names = Self.namedFiles(in: text)
        #expect(names.count > 20, "the page names few files; did the pattern stop matching?")
        let everyFile = Self.filesUnder(["Sources", "Tests", "scripts", "Benchmarks"])
        let missing = names.filter { name in !everyFile.contains { $0 == name || $0.hasSuffix("/" + name) } }
        #expect(missing.isEmpty, "docs/architecture.md names files that do not exist: \(missing.sorted())")
    }

    @Test func aMissingFileIsCaught() {
        let names = Self.namedFiles(in: "see `Pools/Nowhere.swift` and `Gone.swift`, not `Pools`")
        #expect(names == ["Pools/Nowhere.swift", "Gone.swift"])
        let files = Self.filesUnder(["Sources"])
        #expect(files.contains { $0.hasSuffix("/Pools/Pool.swift") })
        #expect(!files.contains { $0.hasSuffix("/Gone.swift") || $0.hasSuffix("/Pools/Nowhere.swift") })
    }

    private static func namedFiles(in text: String) -> [String] {
        let pattern = /`([A-Za-z0-9_+\/.-]+\.(?:swift|c|sh))`/
        return text.matches(of: pattern).map { String($0.output.1) }
    }

    /// Paths relative to the package root, e.g. `Sources/ConcDaemon/Pools/Pool.swift`.
    private static func filesUnder(_ folders: [String]) -> [String] {
        var paths: [String] = []
        for folder in folders {
            let enumerator = FileManager.default.enumerator(atPath: root.appending(path: folder).path)
            while let path = enumerator?.nextObject() as? String {
                paths.append(folder + "/" + path)
            }
        }
        return paths
    }
}
