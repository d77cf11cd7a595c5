import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// HTTPS upstreams: the proxy checks the certificate (against the system roots, or the CA file in
/// `litellm_settings.ssl_verify`) and relays JSON and streams over TLS.
@Suite struct TLSUpstreamTests {
    /// A self-signed certificate for 127.0.0.1 made with the openssl command.
    func selfSignedCertificate() throws -> (certificate: String, key: String) {
        let folder = NSTemporaryDirectory() + "switchyard-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (certificate, key) = (folder + "/cert.pem", folder + "/key.pem")
        let openssl = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
            ])
        openssl.waitUntilExit()
        #expect(openssl.terminationStatus == 0, "openssl must be installed (.ci/run installs it)")
        return (certificate, key)
    }

    @Test func httpsUpstreamWithATrustedCAServesJSONAndStreams() async throws {
        let (certificate, key) = try selfSignedCertificate()
        var options = MockUpstreamOptions()
        options.tls = (certificate, key)
        try await withMockUpstream(options) { mock in
            let base = "https://127.0.0.1:\(mock.port)/v1"
            let yaml = """
                model_list:
                  - model_name: g
                    litellm_params: {model: xai/grok-4, api_base: "\(base)", api_key: \(testKey)}
                litellm_settings: {ssl_verify: "\(certificate)"}
                """
            try await withProxy(yaml: yaml, logLevel: .warning) { proxy in
                for _ in 0..<2 {
                    let plain = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("g", "over tls"))
                    #expect(plain.status == 200, "\(plain.text)")
                    let stream = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("g", "hi", stream: true))
                    #expect(stream.status == 200)
                    #expect(stream.events.last?.isDone == true)
                }
                #expect(mock.recorder.requests.count == 4)
            }
            let untrusted = """
                model_list:
                  - model_name: g
                    litellm_params: {model: xai/grok-4, api_base: "\(base)", api_key: \(testKey)}
                """
            try await withProxy(yaml: untrusted, logLevel: .warning) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("g", "hi"))
                #expect(result.status == 502, "an untrusted certificate is refused: \(result.text)")
                #expect(result.errorMessage.contains("TLS"))
                #expect(mock.recorder.requests.count == 4)
            }
        }
    }

    @Test func sslVerifyReadsABoolOrACAPath() throws {
        let path = ConfigLoader.parse("model_list: []\nlitellm_settings: {ssl_verify: /etc/ca.pem}\n", path: "t.yaml")
        #expect(path.config?.settings.tlsVerification == .caFile("/etc/ca.pem"))
        let off = ConfigLoader.parse("model_list: []\nlitellm_settings: {ssl_verify: false}\n", path: "t.yaml")
        #expect(off.config?.settings.tlsVerification == .off)
        #expect(off.diagnostics.contains { $0.message.contains("not checked") })
        let on = ConfigLoader.parse("model_list: []\nlitellm_settings: {ssl_verify: true}\n", path: "t.yaml")
        #expect(on.config?.settings.tlsVerification == .system)
    }
}
