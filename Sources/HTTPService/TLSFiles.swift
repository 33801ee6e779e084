import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HummingbirdTLS

/// TLS between the coordinator, its workers and clients: PEM files given on the command line.
public enum TLSFiles {
    /// A server's TLS (HTTPS) from a certificate chain and its private key.
    public static func server(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) }
        catch { throw TLSFileError("cannot read TLS certificate \(certificate) (PEM expected): \(error)") }
        guard !chain.isEmpty else { throw TLSFileError("TLS certificate \(certificate) holds no certificate") }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) }
        catch { throw TLSFileError("cannot read TLS key \(key) (PEM expected): \(error)") }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(privateKey))
        // At shutdown wait at most 1 s for a peer's close_notify (NIOSSL's default, 5 s, made a
        // TLS coordinator with a worker attached take ~6 s to exit on SIGTERM).
        configuration.shutdownTimeout = .seconds(1)
        return configuration
    }

    /// An HTTP client that verifies servers (and their host names) against `caFile`'s
    /// certificates, or against the system's roots when nil. Lives as long as the process.
    ///
    /// Never `HTTPClient.shared`: that one gives up on a response after 90 s of silence (its
    /// browser-like read timeout), and a worker is silent for the whole of a unit — a 16k
    /// SmolLM2 unit takes ~4 min on 2 threads of a Zen 3 EPYC, so every one failed and was
    /// redone for ever.
    /// Each request's own deadline (the lease) is the only limit on waiting; redirects are not
    /// followed, so the bearer token goes only where it was sent.
    public static func client(caFile: String?) throws -> HTTPClient {
        guard let caFile else { return plainClient }
        let roots: [NIOSSLCertificate]
        do { roots = try NIOSSLCertificate.fromPEMFile(caFile) }
        catch { throw TLSFileError("cannot read CA file \(caFile) (PEM expected): \(error)") }
        guard !roots.isEmpty else { throw TLSFileError("CA file \(caFile) holds no certificate") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(roots)
        let client = makeClient(tls: tls)
        kept.lock.withLock { kept.clients.append(client) }
        return client
    }

    /// The settings of every client made here: no read timeout (the request's deadline is the
    /// limit), 10 s to connect, no redirects.
    public static func clientConfiguration(tls: TLSConfiguration?) -> HTTPClient.Configuration {
        HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow,
                                 timeout: .init(connect: .seconds(10), read: nil))
    }

    private static func makeClient(tls: TLSConfiguration?) -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration(tls: tls))
    }

    /// The client for plain HTTP and the system's roots, shared by the whole process.
    public static let plainClient = makeClient(tls: nil)

    /// Clients made here are never shut down before the process ends.
    private static let kept = KeptClients()
    private final class KeptClients: @unchecked Sendable {
        let lock = NSLock()
        var clients: [HTTPClient] = []
    }
}

public struct TLSFileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Whether a listen address only accepts connections from this host: `localhost`, `::1` or
/// an IPv4 address in 127.0.0.0/8 (parsed, so a host name such as `127.example.com` is not).
public func isLoopback(_ host: String) -> Bool {
    if host == "localhost" || host == "::1" || host == "[::1]" { return true }
    var address = in_addr()
    return inet_pton(AF_INET, host, &address) == 1 && UInt32(bigEndian: address.s_addr) >> 24 == 127
}

/// A connection failure in words a user can act on (the raw NIO error stays at the end).
public func describeConnectionError(_ error: Error, url: String) -> String {
    let raw = "\(error)"
    let lower = raw.lowercased()
    if lower.contains("connection refused") {
        return "nothing is listening at \(url) (connection refused): is it running, and is the URL right?"
    }
    if lower.contains("certificate") || lower.contains("handshake") || lower.contains("ssl") || lower.contains("tls") {
        return "TLS with \(url) failed: is --ca-file the CA that signed its certificate, and is the host name one the "
            + "certificate names? (\(raw))"
    }
    if lower.contains("remoteconnectionclosed") && url.hasPrefix("http://") {
        return "\(url) closed the connection: it may serve HTTPS (try https://)"
    }
    if lower.contains("deadlineexceeded") || lower.contains("timeout") || lower.contains("timed out") {
        return "no answer from \(url) in time: is the host reachable?"
    }
    return "cannot reach \(url): \(raw)"
}
