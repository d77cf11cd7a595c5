import NIOCore
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// The scan for an answer's `usage` object, read in place from the buffer the answer arrived in.
@Suite struct UsageScannerTests {
    func usage(_ text: String) -> JSONValue? {
        let fromBuffer = UsageScanner.usage(in: ByteBuffer(string: text))
        #expect(fromBuffer == UsageScanner.usage(in: Array(text.utf8)), "buffer and array agree")
        return fromBuffer
    }

    @Test func findsTheTopLevelUsageObject() {
        let found = usage(
            #"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage" : {"prompt_tokens":3,"details":{"a":1},"#
                + #""note":"} {"},"system_fingerprint":"f"}"#)
        #expect(found?.objectValue?["prompt_tokens"]?.intValue == 3)
        #expect(found?.objectValue?["details"]?.objectValue?["a"]?.intValue == 1)
        #expect(found?.objectValue?["note"]?.stringValue == "} {", "braces inside strings are skipped")
    }

    @Test func answersUsageIsReadInPlaceOrParsedWhenOdd() {
        let answer =
            #"{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":2}}}"#
        #expect(
            UsageScanner.read(in: ByteBuffer(string: answer), completionIncludesReasoning: false)
                == Usage(promptTokens: 3, completionTokens: 5, reasoningTokens: 2))
        #expect(
            UsageScanner.read(in: ByteBuffer(string: answer), completionIncludesReasoning: true)
                == Usage(promptTokens: 3, completionTokens: 3, reasoningTokens: 2))
        // An escaped key is beyond the direct reader: the parser reads it (as `prompt_tokens`).
        let escaped = #"{"usage":{"prompt_tokens":4}}"#
        #expect(UsageScanner.read(in: ByteBuffer(string: escaped), completionIncludesReasoning: false) == Usage(promptTokens: 4))
        #expect(
            UsageScanner.read(in: ByteBuffer(string: #"{"usage":{"prompt_tokens":01}}"#), completionIncludesReasoning: false)
                == nil)
        #expect(UsageScanner.read(in: ByteBuffer(string: #"{"id":"no usage"}"#), completionIncludesReasoning: false) == nil)
    }

    @Test func ignoresQuotedMentionsAndOddShapes() {
        #expect(usage(#"{"content":"say \"usage\":{\"x\":1} now"}"#) == nil, "an escaped mention in a string")
        #expect(usage(#"{"usage":null}"#) == nil, "not an object")
        #expect(usage(#"{"usage":{"prompt_tokens":1"#) == nil, "cut off before its end")
        #expect(usage("") == nil)
        #expect(usage(#""usage""#) == nil)
        let last = usage(#"{"choices":[{"usage":{"a":1}}],"usage":{"b":2}}"#)
        #expect(last?.objectValue?["b"]?.intValue == 2, "the last one: the top level's comes after the choices")
    }

    @Test func streamEventsAreCheckedForUsageAndErrorInOnePass() {
        func markers(_ text: String) -> [Bool] {
            let found = SSERelay.markers(in: Array(text.utf8))
            return [found.usage, found.error]
        }
        #expect(markers(#"{"choices":[],"usage":{"prompt_tokens":1}}"#) == [true, false])
        #expect(markers(#"{"error":{"message":"x"}}"#) == [false, true])
        #expect(markers(#"{"error":1,"usage":{}}"#) == [true, true])
        #expect(markers(#"{"content":"say \"usage\" or \"error\""}"#) == [false, false], "escaped mentions")
        #expect(markers(#"x"usage""#) == [true, false], "at the very end")
        #expect(markers(#""usage"#) == [false, false], "cut short")
        #expect(markers("") == [false, false])
    }

    @Test func theUsageObjectIsFoundWhereverItLiesAgainstAPlainScan() {
        // Read from the end eight places at a time: the last unescaped `"usage":` decides, at every offset.
        func plainScan(_ bytes: [UInt8]) -> Int? {
            let needle = Array(#""usage""#.utf8)
            guard bytes.count > needle.count else { return nil }
            for index in stride(from: bytes.count - needle.count, through: 0, by: -1)
            where bytes[index..<(index + needle.count)].elementsEqual(needle) && (index == 0 || bytes[index - 1] != 0x5C) {
                var position = index + needle.count
                while position < bytes.count, bytes[position] == 0x20 { position += 1 }
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { continue }
                position += 1
                while position < bytes.count, bytes[position] == 0x20 { position += 1 }
                return position < bytes.count && bytes[position] == UInt8(ascii: "{") ? position : nil
            }
            return nil
        }
        let pieces = [
            #""usage":{"a":1}"#, #""usage" : {}"#, #"\"usage\":{"#, #""usage":null"#, #""usage""#, #"""#, "x", "usage",
            #"":{"#, #"{"error":1}"#, " ",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...10, using: &generator)).map { _ in pieces.randomElement() ?? "" }.joined()
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBufferPointer { UsageScanner.objectStart(in: $0) } == plainScan(bytes), "\(text)")
        }
        for offset in 0..<24 {
            for after in 0..<20 {
                let text = String(repeating: "a", count: offset) + #""usage":{}"# + String(repeating: "b", count: after)
                let bytes = Array(text.utf8)
                #expect(bytes.withUnsafeBufferPointer { UsageScanner.objectStart(in: $0) } == offset + 8)
            }
        }
    }

    @Test func markersAreFoundWhereverTheyLieAgainstAPlainScan() {
        // Eight places are ruled out at a time: markers at every offset, next to quotes and escapes, at the end.
        func plainScan(_ bytes: [UInt8]) -> [Bool] {
            var found = [false, false]
            for index in bytes.indices where index + 6 < bytes.count && bytes[index] == 0x22 && bytes[index + 6] == 0x22 {
                let word = String(decoding: bytes[(index + 1)...(index + 5)], as: UTF8.self)
                if word == "usage" { found[0] = true }
                if word == "error" { found[1] = true }
            }
            return found
        }
        let pieces = [#""usage""#, #""error""#, #"""#, #"\""#, "usage", "x", #"":{"#, #""model""#, "\u{80}", #"""""""#]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...12, using: &generator)).map { _ in pieces.randomElement() ?? "" }.joined()
            let bytes = Array(text.utf8)
            let found = SSERelay.markers(in: bytes)
            #expect([found.usage, found.error] == plainScan(bytes), "\(text)")
        }
        for offset in 0..<24 {
            let bytes = Array((String(repeating: "a", count: offset) + #""error""#).utf8)
            #expect(SSERelay.markers(in: bytes).error, "at \(offset)")
        }
    }

    @Test func plainDataEventsAreReadInPlaceAndOtherShapesAreNot() {
        func plain(_ text: String) -> String? {
            Array(text.utf8).withUnsafeBufferPointer { event in
                SSERelay.plainData(event).map { String(decoding: $0, as: UTF8.self) }
            }
        }
        #expect(plain("data: {\"a\":1}\n\n") == "{\"a\":1}")
        #expect(plain("data:{\"a\":1}\n\n") == "{\"a\":1}")
        #expect(plain("data: [DONE]\n\n") == "[DONE]")
        #expect(plain("data: \n\n") == "")
        #expect(plain("data:\n\n") == "")
        // Each of these is left to `SSEEvent`, which reads every shape the SSE format allows.
        for other in [
            "data: a\ndata: b\n\n", "event: x\ndata: a\n\n", "data: a\r\n\r\n", ": keepalive\n\n", "id: 1\n\n",
            "data: a\rb\n\n", "dat: a\n\n", "data: a\n", "",
        ] {
            #expect(plain(other) == nil, "\(other.debugDescription)")
        }
    }
}
