import Crypto
import Foundation

/// SHA-256 hex digests that tie searches and workers to the exact model and text files
/// (swift-crypto's implementation: BoringSSL, with the CPU's SHA instructions where present).
public enum SHA256 {
    /// Hex digest of bytes in memory.
    public static func hex(_ data: Data) -> String {
        hexString(Crypto.SHA256.hash(data: data))
    }

    /// Hex digest of a file, read in 4 MiB pieces (models are gigabytes).
    public static func hex(fileAt path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = Crypto.SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hexString(hasher.finalize())
    }

    private static func hexString(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
