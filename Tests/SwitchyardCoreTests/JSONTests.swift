import Testing

@testable import SwitchyardCore

@Suite struct JSONTests {
    @Test func roundTripKeepsKeyOrderAndNumberText() throws {
        let text = #"{"b":1,"a":0.1,"c":[true,false,null,"x\"y\n"],"d":{"e":-2.5e10}}"#
        let value = try JSONParser.parse(text)
        #expect(value.encodedString() == text)
    }

    @Test func unicodeEscapesAndSurrogatePairsDecode() throws {
        let value = try JSONParser.parse(#""\u00e9\ud83d\ude00""#)
        #expect(value.stringValue == "é😀")
    }

    @Test(arguments: [
        "", "{", "{\"a\":}", "[1,]", "tru", "{\"a\" 1}", "\"\\ud800\"", "01", "1.", "{\"a\":1}x", "\"\u{01}\"",
    ])
    func malformedInputIsAnErrorNotACrash(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func nestingBeyondTheLimitIsRefused() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func objectSubscriptSetsReplacesAndRemoves() {
        var object: JSONObject = ["a": 1, "b": 2]
        object["a"] = "x"
        object["c"] = true
        object["b"] = nil
        #expect(object.keys == ["a", "c"])
        #expect(object["a"] == "x")
    }
}
