import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive, advisory lock that makes one process the owner of a database: the coordinator
/// daemon or a `longrope search` takes it for as long as it runs, and a second owner is refused
/// with a message instead of running the same searches twice. Readers (`export`, `status`)
/// need no lock. The kernel drops it when the process dies, even by SIGKILL.
public final class OwnerLock: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32

    public struct Held: Error, CustomStringConvertible {
        public let databasePath: String
        public var description: String {
            "another process (a coordinator or a longrope search) owns \(databasePath): only one may run searches on a database at a time; stop it, or use another --db"
        }
    }

    /// Takes the lock of `databasePath` (the file `.lock` beside the database's real path, so a
    /// symbolic link to a database, or a path through a linked folder, takes the same lock), or
    /// throws `Held`.
    public init(databasePath: String) throws {
        // The descriptor is a local until the lock is ours: a class whose init throws after
        // every property is set still runs its deinit, which would close the descriptor a
        // second time — by then perhaps another thread's file (seen: a test's SQLite database
        // failing with "disk I/O error", a pipe losing a child's stderr).
        let lockPath = Self.realPath(databasePath) + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError.notFound("lock file \(lockPath) (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Held(databasePath: databasePath)
        }
        path = lockPath
        descriptor = fd
    }

    /// The path with every symbolic link resolved; for a file that does not exist yet, its
    /// folder's real path and its name.
    static func realPath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        guard let resolved = realpath(folder, nil) else { return path }
        defer { free(resolved) }
        return URL(fileURLWithPath: String(cString: resolved)).appendingPathComponent(url.lastPathComponent).path
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
