import Foundation

/// The file `compare --plot` writes, checked before the measuring starts so that a path that cannot
/// be written costs no run, and written with plain POSIX calls so failures say what the kernel said.
struct PlotFile {
    let path: String

    /// Why the file cannot be written, as a sentence.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens the path for writing as a probe, and removes it again if the probe created it.
    func checkWritable() throws(Failure) {
        let existed = access(path, F_OK) == 0
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure() }
        close(descriptor)
        if !existed { unlink(path) }
    }

    /// Replaces the file's content with `text`.
    func write(_ text: String) throws(Failure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure() }
        defer { close(descriptor) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw failure() }
            bytes = bytes.dropFirst(written)
        }
    }

    private func failure() -> Failure {
        Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
    }
}
