import Foundation
import Testing
import TestSupport

/// Found 7 of issue 13: a port in use is named, not shown as NIO's bind() text.
@Suite struct ListenErrorTests {
    @Test func aPortInUseIsNamed() throws {
        let first = try ServiceProcess(["coordinator", "--db", temporaryDirectory().appendingPathComponent("a.sqlite").path,
                                        "--listen", "127.0.0.1:0"])
        defer { first.stop() }
        let second = try runLongrope(["coordinator", "--db", temporaryDirectory().appendingPathComponent("b.sqlite").path,
                                      "--listen", "127.0.0.1:\(first.port)"])
        #expect(second.status != 0 && second.stderr.contains("port is in use"), "\(second.stderr)")
        #expect(!second.stderr.contains("bind(descriptor"))
    }
}
