import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardStorage
import Testing

@testable import SwitchyardServer

/// How the proxy reads the key a client presents, compares it with the master key and hashes it: on bytes, on every
/// request.
@Suite struct PresentedKeyTests {
    static func request(_ fields: HTTPFields) -> Request {
        Request(
            head: HTTPRequest(
                method: .post, scheme: "http", authority: "proxy", path: "/v1/chat/completions", headerFields: fields),
            body: RequestBody(buffer: ByteBuffer()))
    }

    static func presented(_ authorization: String?, apiKey: String? = nil) -> String? {
        var fields = HTTPFields()
        if let authorization { fields[.authorization] = authorization }
        if let apiKey, let name = HTTPField.Name("x-api-key") { fields[name] = apiKey }
        return ProxyEngine.presentedKey(request(fields))
    }

    @Test func theBearerSchemeInAnyCaseWithSpacesAroundTheKey() {
        #expect(Self.presented("Bearer sk-abc") == "sk-abc")
        #expect(Self.presented("bearer sk-abc") == "sk-abc")
        #expect(Self.presented("BEARER sk-abc") == "sk-abc")
        #expect(Self.presented("Bearer   sk-abc \t ") == "sk-abc")
        #expect(Self.presented("Bearer \tsk-a b") == "sk-a b")
        #expect(Self.presented("Bearer sk-ünï") == "sk-ünï")
    }

    @Test func otherSchemesAndEmptyKeysFallBackToTheAPIKeyHeader() {
        #expect(Self.presented("Basic c2stYWJj") == nil)
        #expect(Self.presented("Bearer") == nil)
        #expect(Self.presented("Bearer    ") == nil)
        #expect(Self.presented("Bearersk-abc") == nil)
        #expect(Self.presented("Bearex sk-abc") == nil)
        #expect(Self.presented("Bearer    ", apiKey: "sk-header") == "sk-header")
        #expect(Self.presented(nil, apiKey: "sk-header") == "sk-header")
        #expect(Self.presented(nil) == nil)
        #expect(Self.presented("Bearer sk-auth", apiKey: "sk-header") == "sk-auth")
    }

    @Test func keysAreComparedWhole() {
        #expect(ProxyEngine.constantTimeEquals("sk-master", "sk-master"))
        #expect(!ProxyEngine.constantTimeEquals("sk-master", "sk-mastex"))
        #expect(!ProxyEngine.constantTimeEquals("sk-master", "sk-master2"))
        #expect(!ProxyEngine.constantTimeEquals("sk-master2", "sk-master"))
        #expect(!ProxyEngine.constantTimeEquals("", "sk"))
        #expect(ProxyEngine.constantTimeEquals("", ""))
    }

    /// FIPS 180-2's test vectors, through each way in.
    @Test func keysAndBodiesHashToTheStandardSHA256() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        #expect(KeyHashing.sha256("abc") == abc)
        #expect(KeyHashing.sha256(array: Array("abc".utf8)) == abc)
        #expect(KeyHashing.sha256("abc".utf8) == abc)
        #expect(KeyHashing.sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(KeyHashing.sha256(long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var buffer = ByteBuffer(string: "xx" + long)
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(
            buffer.withUnsafeReadableBytes { KeyHashing.sha256(buffer: $0) }
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
