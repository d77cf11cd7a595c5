import Foundation
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

    /// Strings of every kind of character (escapes at the start, the end and side by side, control characters,
    /// multi-byte and astral characters) survive encoding and parsing, and agree with Foundation's reading.
    @Test func stringsRoundTripAndAgreeWithFoundation() throws {
        let pieces = [
            "plain", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1f}", "/", "é", "😀", "中文", " ", "\u{7f}", "a\"b\\c",
        ]
        var generator = SystemRandomNumberGenerator()
        var samples = pieces + ["", String(repeating: "x", count: 100_000) + "\"" + String(repeating: "y", count: 10)]
        for _ in 0..<300 {
            let count = Int.random(in: 1...12, using: &generator)
            samples.append((0..<count).map { _ in pieces.randomElement(using: &generator) ?? "" }.joined())
        }
        for sample in samples {
            let encoded = JSONValue.array([.string(sample)]).encodedBytes()
            #expect(try JSONParser.parse(encoded) == .array([.string(sample)]), "\(sample.debugDescription)")
            let foundation = try JSONSerialization.jsonObject(with: Data(encoded)) as? [String]
            #expect(foundation == [sample], "\(sample.debugDescription)")
            let foundationText = try JSONSerialization.data(withJSONObject: [sample])
            #expect(try JSONParser.parse(Array(foundationText)) == .array([.string(sample)]), "\(sample.debugDescription)")
        }
        #expect(try JSONParser.parse(#""a\u0041\u00e9\/b""#).stringValue == "aAé/b")
        #expect(JSONValue.quoted("\u{0}\u{1b}") == #""\u0000\u001b""#)
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
