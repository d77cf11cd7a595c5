import Testing

@testable import SwitchyardCore

@Suite struct RedactorTests {
    let redactor = Redactor(secrets: ["my-configured-secret", "short"])

    @Test(arguments: [
        ("key xai-AbCdEf0123456789 here", "xai-AbCdEf0123456789"),
        ("Authorization: Bearer abc.def-123456", "abc.def-123456"),
        ("token sk-proj-1234567890abcdef end", "sk-proj-1234567890abcdef"),
        ("https://h/v1?key=AIzaSecret123&x=1", "AIzaSecret123"),
        ("the my-configured-secret leaked", "my-configured-secret"),
        ("{\"api_key\":\"x\",\"url\":\"?api_key=zzzzzz9\"}", "zzzzzz9"),
    ])
    func secretsAreMasked(_ input: String, _ secret: String) {
        let output = redactor.redact(input)
        #expect(!output.contains(secret), "\(output)")
        #expect(output.contains(Redactor.mask))
    }

    @Test func configuredSecretWithUnusualFirstLettersIsStillFound() {
        let redactor = Redactor(secrets: ["zq9-odd-secret-value"])
        #expect(redactor.redact("value=zq9-odd-secret-value;") == "value=\(Redactor.mask);")
    }

    @Test func caseVariantsOfBearerAreMasked() {
        for word in ["bearer", "Bearer", "BEARER"] {
            #expect(!redactor.redact("\(word) tok-123456789").contains("tok-123456789"))
        }
    }

    @Test func ordinaryTextIsUntouched() {
        let text = "model grok-code-fast-1 answered 200 in 12 ms; sketch the xai- prefix; skip"
        #expect(redactor.redact(text) == text)
    }

    @Test func shortConfiguredValuesAreNotMaskedEverywhere() {
        #expect(redactor.redact("a short note") == "a short note")
    }

    @Test func secretMaskShowsOnlyEnds() {
        #expect(Secret("xai-abcdefghijklmnop").masked == "xai-****op")
        #expect(Secret("tiny").masked == "****")
        #expect("\(Secret("sk-1234567890abcd"))" == "sk-****cd")
    }
}
