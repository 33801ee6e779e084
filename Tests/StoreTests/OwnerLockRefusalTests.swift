import Foundation
import Store
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A refused lock must close its own descriptor once, and nothing else.
@Suite struct OwnerLockRefusalTests {
    /// While one thread is refused the lock over and over, another opens and reads a file. A
    /// refused lock that closed its descriptor twice (once in init, once in the deinit that
    /// Swift runs for a class whose init throws after every property is set) would now and
    /// then close the other thread's file, whose read then fails with EBADF.
    @Test func aRefusedLockClosesNoOneElsesFile() async throws {
        let directory = temporaryDirectory()
        let database = directory.appendingPathComponent("held.sqlite").path
        let other = directory.appendingPathComponent("other.txt").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: other))
        let owner = try OwnerLock(databasePath: database)
        let stop = StopFlag()
        let reader = Task.detached { () -> Int in
            var broken = 0
            var byte: UInt8 = 0
            while !stop.isSet {
                let fd = open(other, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                if pread(fd, &byte, 1, 0) != 1 { broken += 1 }
                close(fd)
            }
            return broken
        }
        var refusals = 0
        for _ in 0..<20_000 {
            do { _ = try OwnerLock(databasePath: database) } catch is OwnerLock.Held { refusals += 1 }
        }
        stop.set()
        let broken = await reader.value
        #expect(refusals == 20_000)
        #expect(broken == 0, "the other thread's file was closed under it \(broken) times")
        withExtendedLifetime(owner) {}
    }

    /// Issue 23, item 4: a symbolic link to an owned database (or a path through a linked
    /// folder) is the same database, so its lock is refused; another database is not.
    @Test func aLinkToAnOwnedDatabaseIsRefused() throws {
        let directory = temporaryDirectory()
        let database = directory.appendingPathComponent("c14.sqlite").path
        try Data().write(to: URL(fileURLWithPath: database))
        let owner = try OwnerLock(databasePath: database)
        let alias = directory.appendingPathComponent("alias14.sqlite").path
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: "c14.sqlite")
        #expect(throws: OwnerLock.Held.self) { try OwnerLock(databasePath: alias) }
        let linkedFolder = temporaryDirectory().appendingPathComponent("via").path
        try FileManager.default.createSymbolicLink(atPath: linkedFolder, withDestinationPath: directory.path)
        #expect(throws: OwnerLock.Held.self) { try OwnerLock(databasePath: linkedFolder + "/c14.sqlite") }
        // A database not created yet, through the linked folder: the same lock as by its real path.
        let fresh = try OwnerLock(databasePath: linkedFolder + "/new.sqlite")
        #expect(throws: OwnerLock.Held.self) { try OwnerLock(databasePath: directory.appendingPathComponent("new.sqlite").path) }
        #expect(try OwnerLock(databasePath: directory.appendingPathComponent("other.sqlite").path).path.hasSuffix("other.sqlite.lock"))
        withExtendedLifetime((owner, fresh)) {}
    }
}

/// A flag one thread sets and another polls.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
