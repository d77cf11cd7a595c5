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

    // MARK: A parsed document's members encoded again from their text

    @Test func unchangedMembersOfAParsedDocumentAreTheirOwnTextAgain() throws {
        let text = #"{ "model" : "a",  "messages":[ {"role": "user","content":"hi \u00e9"} ] ,"n":1.50 }"#
        guard case .object(var object) = try JSONParser.parse(text) else { throw JSONParseError(reason: "", offset: 0) }
        let unchanged = #"{"model" : "a","messages":[ {"role": "user","content":"hi \u00e9"} ],"n":1.50}"#
        #expect(JSONValue.object(object).encodedString() == unchanged)
        object["model"] = "b"
        object["extra"] = .object(["x": true])
        object.removeValue(forKey: "n")
        #expect(
            JSONValue.object(object).encodedString()
                == #"{"model":"b","messages":[ {"role": "user","content":"hi \u00e9"} ],"extra":{"x":true}}"#)
    }

    @Test func anObjectWithARepeatedKeyIsEncodedFromItsValuesTheLastOneWinning() throws {
        let value = try JSONParser.parse(#"{"a":1,"b" : 2,"a" :[3]}"#)
        #expect(value.encodedString() == #"{"a":[3],"b":2}"#)
    }

    @Test func nestedObjectsAndArraysAreEncodedFromTheirValues() throws {
        // Only the document's own object keeps its text: a member taken out and put back changed is encoded anew.
        guard case .object(var object) = try JSONParser.parse(#"{"o": {"k" : 1}, "l":[ 1 ]}"#) else {
            throw JSONParseError(reason: "", offset: 0)
        }
        guard case .object(var inner) = object["o"] else { throw JSONParseError(reason: "", offset: 0) }
        #expect(JSONValue.object(inner).encodedString() == #"{"k":1}"#)
        inner["k"] = 2
        object["o"] = .object(inner)
        #expect(JSONValue.object(object).encodedString() == #"{"o":{"k":2},"l":[ 1 ]}"#)
        #expect(JSONValue.array([.object(object)]).encodedString() == #"[{"o":{"k":2},"l":[ 1 ]}]"#)
    }

    @Test func aDocumentWithBytesThatAreNotUTF8IsEncodedFromItsValues() throws {
        // The replacement character the parser put in place of the bad byte is what goes on, never the byte.
        for bytes in [[0xFF], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xED, 0xA0, 0x80]] as [[UInt8]] {
            let document = Array(#"{"a":"x"#.utf8) + bytes + Array(#"y","b" : 1}"#.utf8)
            let value = try JSONParser.parse(array: document)
            let encoded = value.encodedBytes()
            #expect(String(validating: encoded, as: UTF8.self) != nil, "\(bytes)")
            #expect(encoded.starts(with: Array(#"{"a":"x\#u{FFFD}"#.utf8)), "\(bytes)")
            #expect(encoded.suffix(7).elementsEqual(#","b":1}"#.utf8), "\(bytes)")
        }
        // Valid multi-byte text is kept as it is.
        let value = try JSONParser.parse(#"{"a" : "é😀"}"#)
        #expect(value.encodedString() == #"{"a" : "é😀"}"#)
    }

    @Test func editedParsedDocumentsMeanWhatTheirValuesMean() throws {
        // Random edits of random documents: the text encoded reads back as the edited value, and as the same
        // object encoded from its values alone.
        var generator = SystemRandomNumberGenerator()
        let leaves: [String] = ["1", "-0.5e3", "true", "null", #""s\n""#, #""é""#, "[]", "{}", #"[1, {"x" :2}]"#]
        for _ in 0..<300 {
            let count = Int.random(in: 0...6, using: &generator)
            let members = (0..<count).map { index in
                "\(Bool.random() ? " " : "")\"k\(Int.random(in: 0...4))\" : \(leaves.randomElement() ?? "1")"
            }
            let text = "{" + members.joined(separator: " ,") + "}"
            guard case .object(var object) = try JSONParser.parse(text) else { throw JSONParseError(reason: text, offset: 0) }
            for _ in 0..<Int.random(in: 0...3) {
                let key = "k\(Int.random(in: 0...5))"
                switch Int.random(in: 0...2) {
                case 0: object[key] = nil
                case 1: object[key] = .array([.number("7"), .string("t")])
                default: object.removeValue(forKey: key)
                }
            }
            let encoded = JSONValue.object(object).encodedString()
            #expect(try JSONParser.parse(encoded) == .object(object), "\(text) -> \(encoded)")
            let fromValues = JSONValue.object(object.forgettingSource()).encodedString()
            #expect(try JSONParser.parse(encoded) == JSONParser.parse(fromValues))
        }
    }
}

/// Objects stay linear in their members however many there are (a body with 200,000 keys once took 41 s of
/// CPU to parse, each member found by a search of those before it).
@Suite struct LargeObjectTests {
    /// `{"k0":0,"k1":1,...}` with `count` members, optionally nested `depth` levels down.
    func document(keys count: Int, depth: Int = 0) -> [UInt8] {
        var text = "{" + (0..<count).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        for _ in 0..<depth { text = "{\"a\":[" + text + "]}" }
        return Array(text.utf8)
    }

    @Test(arguments: [0, 1, 2, 16, 17, 1_000, 20_000])
    func keyComparisonsPerMemberStayBoundedAtAnySize(_ count: Int) throws {
        let (value, comparisons) = try JSONParser.parseCounting(array: document(keys: count))
        // Below the index threshold a member is compared with at most all of those before it; above it, one
        // hash lookup per member. A search over all members would make this about count * count / 2.
        let bound = count * (JSONObject.indexThreshold + 1)
        #expect(comparisons <= bound, "\(comparisons) comparisons for \(count) members")
        #expect(value.objectValue?.members.count == count)
        #expect(value.objectValue?.isIndexed == (count > JSONObject.indexThreshold))
        if count > 0 { #expect(value.objectValue?["k\(count - 1)"] == .int(count - 1)) }
    }

    @Test func nestedLargeObjectsAreIndexedToo() throws {
        let (value, comparisons) = try JSONParser.parseCounting(array: document(keys: 10_000, depth: 20))
        #expect(comparisons <= 10_000 * 2 + 20 * (JSONObject.indexThreshold + 1))
        var inner = value
        for _ in 0..<20 { inner = inner.objectValue?["a"]?.arrayValue?.first ?? .null }
        #expect(inner.objectValue?.isIndexed == true)
        #expect(inner.objectValue?["k9999"] == .int(9_999))
        #expect(try JSONParser.parse(value.encodedBytes()) == value)
    }

    @Test func theNestingBoundHolds() {
        let deep = Array((String(repeating: "[", count: 129) + String(repeating: "]", count: 129)).utf8)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(array: deep) }
        let deepest = Array((String(repeating: "{\"a\":", count: 128) + "1" + String(repeating: "}", count: 128)).utf8)
        #expect(throws: Never.self) { try JSONParser.parse(array: deepest) }
    }

    @Test(arguments: [3, 40])
    func aRepeatedKeyKeepsItsFirstPlaceAndTheLastValue(_ others: Int) throws {
        let filler = (0..<others).map { ",\"f\($0)\":\($0)" }.joined()
        let text = "{\"model\":\"first\"\(filler),\"model\":\"last\",\"x\":1}"
        let object = try #require(try JSONParser.parse(text).objectValue)
        #expect(object["model"] == "last")
        #expect(object.keys.first == "model")
        #expect(object.members.count == others + 2)
        // Encoded from its values (the document's text holds both), so the last value is what goes on.
        let encoded = try #require(try JSONParser.parse(JSONValue.object(object).encodedBytes()).objectValue)
        #expect(encoded["model"] == "last")
        #expect(encoded.members.count == others + 2)
    }

    /// Random sets, replacements and removals on objects crossing the index threshold agree with a plain
    /// ordered list, and encoding after them matches the list (the parsed text is kept in step).
    @Test func editsAgreeWithAnOrderedListAcrossTheThreshold() throws {
        var random = SplitMix(seed: 21)
        for round in 0..<40 {
            let initial = Int(random.next() % 40)
            var object = try #require(try JSONParser.parse(array: document(keys: initial)).objectValue)
            var model: [(String, JSONValue)] = (0..<initial).map { ("k\($0)", .int($0)) }
            for step in 0..<60 {
                let key = "k\(random.next() % 50)"
                switch random.next() % 3 {
                case 0:
                    object[key] = .int(step * 1000 + round)
                    if let at = model.firstIndex(where: { $0.0 == key }) {
                        model[at].1 = .int(step * 1000 + round)
                    } else {
                        model.append((key, .int(step * 1000 + round)))
                    }
                case 1:
                    let removed = object.removeValue(forKey: key)
                    let at = model.firstIndex(where: { $0.0 == key })
                    #expect(removed == at.map { model[$0].1 })
                    if let at { model.remove(at: at) }
                default:
                    #expect(object[key] == model.first(where: { $0.0 == key })?.1)
                }
                #expect(object.keys == model.map(\.0))
                // Once indexed an object stays so (a shrinking object keeps its index); over the threshold it must be.
                if model.count > JSONObject.indexThreshold { #expect(object.isIndexed) }
            }
            let expected = "{" + model.map { "\"\($0.0)\":\($0.1.encodedString())" }.joined(separator: ",") + "}"
            #expect(JSONValue.object(object).encodedString() == expected)
        }
    }

    @Test func equalityOfLargeObjectsIgnoresOrder() throws {
        let forward = try JSONParser.parse(array: document(keys: 5_000))
        let members = (0..<5_000).reversed().map { (key: "k\($0)", value: JSONValue.int($0)) }
        #expect(forward == .object(JSONObject(members)))
        var changed = JSONObject(members)
        changed["k7"] = .int(8)
        #expect(forward != .object(changed))
    }
}
