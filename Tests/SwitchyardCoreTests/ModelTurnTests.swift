import Testing

@testable import SwitchyardCore

/// `ModelTurn`, the answer the translated surfaces render from: read from a parsed chat completion, from its bytes
/// (the fast reader must mean exactly what the parsed object means, or give up), and from a Responses `response`.
@Suite struct ModelTurnTests {
    static let completions = [
        """
        {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"grok-4.3","choices":[{"index":0,
          "message":{"role":"assistant","content":"Calling add.","reasoning_content":"Need a tool.","refusal":null,
            "tool_calls":[{"id":"call_9","type":"function","function":{"name":"add","arguments":"{\\"a\\":1}"}}]},
          "finish_reason":"tool_calls"}],
         "usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":32,
           "prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":7},
           "cost_in_usd_ticks":1234}}
        """,
        #"{"model":"m","choices":[{"message":{"role":"assistant","content":"Once \"upon\" \u00e9\ud83d\ude00\n"},"finish_reason":"length"}]}"#,
        #"{"choices":[{"message":{"content":null,"refusal":"No."},"finish_reason":"content_filter"},{"message":{"content":"2nd"}}]}"#,
        #"{"model":"a","model":"b","choices":[],"choices":[{"message":{"content":"x"},"message":{"content":7}}],"usage":null}"#,
        #"{"choices":[{"message":{"content":[{"type":"text","text":"parts"}]}}],"usage":{"prompt_tokens":1.0e1,"cost_in_usd_ticks":"9"}}"#,
        #"  {"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],"usage":{"input_tokens":3,"output_tokens":4}}  "#,
    ]

    static func parsed(_ text: String) throws -> JSONObject {
        guard case .object(let object) = try JSONParser.parse(text) else {
            throw JSONParseError(reason: "not an object", offset: 0)
        }
        return object
    }

    static func fast(_ bytes: [UInt8], completionIncludesReasoning: Bool = false) -> ModelTurn? {
        bytes.withUnsafeBufferPointer { ModelTurn(chatBytes: $0, completionIncludesReasoning: completionIncludesReasoning) }
    }

    @Test(arguments: completions) func theByteReaderMeansWhatTheParsedAnswerMeans(_ text: String) throws {
        let slow = ModelTurn(chat: try Self.parsed(text), completionIncludesReasoning: false)
        let fast = try #require(Self.fast(Array(text.utf8)), "plain JSON is read without the parser")
        #expect(fast == slow)
    }

    @Test func aChatAnswerReadsIntoATurn() throws {
        let turn = ModelTurn(chat: try Self.parsed(Self.completions[0]), completionIncludesReasoning: false)
        #expect(turn.model == "grok-4.3")
        #expect(turn.text == "Calling add." && turn.reasoning == "Need a tool." && turn.refusal == nil)
        #expect(turn.toolCalls == [ModelTurn.ToolCall(id: "call_9", name: "add", arguments: #"{"a":1}"#)])
        #expect(turn.finish == .toolCalls)
        #expect(
            turn.usage
                == Usage(promptTokens: 20, completionTokens: 5, reasoningTokens: 7, cachedTokens: 8, upstreamCostUSD: 1234e-10))
        #expect(turn.costTicks == "1234")
        let repeated = try #require(Self.fast(Array(Self.completions[3].utf8)))
        #expect(repeated.model == "b" && repeated.text == "", "the last of repeated keys wins, and 7 is no text")
    }

    /// Mangled answers: the byte reader either gives up (the caller parses) or agrees with the parsed object.
    @Test func mangledAnswersAreReadAsTheParserReadsThemOrLeftToIt() {
        let alphabet = Array(" {}[]\":,0123456789aeinorst\\nul".utf8)
        var generator = SplitMix(seed: 0x7E57_0023)
        var agreed = 0
        for round in 0..<4_000 {
            var bytes = Array(Self.completions[round % Self.completions.count].utf8)
            generator.mangle(&bytes, alphabet: alphabet)
            let fast = Self.fast(bytes, completionIncludesReasoning: round.isMultiple(of: 2))
            guard case .object(let object)? = try? JSONParser.parse(bytes) else {
                #expect(fast == nil, "round \(round): \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            guard let fast else { continue }
            agreed += 1
            #expect(
                fast == ModelTurn(chat: object, completionIncludesReasoning: round.isMultiple(of: 2)),
                "round \(round): \(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(agreed >= 500, "\(agreed) mangled answers were read by the byte reader")
    }

    @Test func aResponsesAnswerReadsIntoATurn() throws {
        let response = try Self.parsed(
            """
            {"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
             "model":"grok-4.3","output":[
              {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Think"},{"type":"summary_text","text":"ing."}]},
              {"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hel"},{"type":"output_text","text":"lo"}]},
              {"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":"{}"}],
             "usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":9,
               "output_tokens_details":{"reasoning_tokens":6},"total_tokens":19,"cost_in_usd_ticks":77}}
            """)
        let turn = ModelTurn(response: response)
        #expect(turn.model == "grok-4.3" && turn.reasoning == "Thinking." && turn.text == "Hello")
        #expect(turn.toolCalls == [ModelTurn.ToolCall(id: "call_1", name: "f", arguments: "{}")])
        #expect(turn.finish == .length)
        #expect(turn.usage?.completionTokens == 3, "a response's output tokens include reasoning")
        #expect(turn.usage?.reasoningTokens == 6 && turn.usage?.cachedTokens == 4)
        #expect(turn.costTicks == "77")
        var completed = response
        completed["status"] = "completed"
        #expect(ModelTurn(response: completed).finish == .toolCalls)
    }

    static let responses = [
        """
        {"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
         "instructions":null,"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"model":"grok-4.3",
         "output":[
          {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Think"},{"type":"summary_text","text":"ing."}]},
          {"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hel","annotations":[]},
            {"type":"output_text","text":"lo \\"you\\"\\n"},{"type":"refusal","refusal":"no"}]},
          {"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":"{\\"a\\":1}"}],
         "usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":9,
           "output_tokens_details":{"reasoning_tokens":6},"total_tokens":19,"cost_in_usd_ticks":77}}
        """,
        #"{"status":"completed","output":[{"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"raw"}]},{"type":"function_call","id":"fc_2","name":"g"},7,{"type":"message","content":[5,{"type":"output_text","text":"x"}]}]}"#,
        #"{"output":[{"type":"message","content":[{"type":"output_text","text":"a"}]}],"output":[],"status":"incomplete","incomplete_details":{"reason":"content_filter"},"usage":null}"#,
        #"{"model":7,"output":{"type":"message"},"incomplete_details":null,"usage":{"input_tokens":1,"output_tokens":2}}"#,
    ]

    @Test(arguments: responses) func theResponseByteReaderMeansWhatTheParsedResponseMeans(_ text: String) throws {
        let slow = ModelTurn(response: try Self.parsed(text))
        let fast = try #require(
            Array(text.utf8).withUnsafeBufferPointer { ModelTurn(responseBytes: $0) }, "plain JSON is read without the parser")
        #expect(fast == slow)
    }

    @Test func mangledResponsesAreReadAsTheParserReadsThemOrLeftToIt() {
        let alphabet = Array(" {}[]\":,0123456789aeinorst\\nul".utf8)
        var generator = SplitMix(seed: 0x7E57_0024)
        var agreed = 0
        for round in 0..<4_000 {
            var bytes = Array(Self.responses[round % Self.responses.count].utf8)
            generator.mangle(&bytes, alphabet: alphabet)
            let fast = bytes.withUnsafeBufferPointer { ModelTurn(responseBytes: $0) }
            guard case .object(let object)? = try? JSONParser.parse(bytes) else {
                #expect(fast == nil, "round \(round): \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            guard let fast else { continue }
            agreed += 1
            #expect(fast == ModelTurn(response: object), "round \(round): \(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(agreed >= 500, "\(agreed) mangled responses were read by the byte reader")
    }

    /// What the writer makes is JSON, commas and all, whatever it is given.
    @Test func theWriterMakesJSONTheParserReadsBack() throws {
        var writer = JSONWriter(capacity: 8)
        writer.beginObject()
        writer.key("a")
        writer.beginArray()
        writer.int(0)
        writer.int(-12)
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.string("q\"\\\n\u{1}é")
        writer.endArray()
        writer.key("b")
        writer.string(orNull: nil)
        writer.key("c")
        writer.value(.object(["x": .array([1, "y", .null])]))
        writer.key("d")
        writer.literal("{\"type\":\"text\"}")
        writer.key("e")
        writer.encoded(Array("12.50".utf8))
        writer.endObject()
        var numbers = JSONWriter(capacity: 1)
        numbers.beginArray()
        for number in [Int.min, -1, 9, 10, 12_345, Int.max] { numbers.int(number) }
        numbers.endArray()
        #expect(String(decoding: numbers.bytes, as: UTF8.self) == "[\(Int.min),-1,9,10,12345,\(Int.max)]")
        let value = try JSONParser.parse(array: writer.bytes)
        #expect(
            value
                == .object([
                    "a": .array([0, -12, .object([:]), .array([]), "q\"\\\n\u{1}é"]), "b": .null,
                    "c": .object(["x": .array([1, "y", .null])]), "d": .object(["type": "text"]), "e": .number("12.50"),
                ]))
    }

    @Test func aTopLevelStringIsReadWithoutParsing() {
        func id(_ text: String) -> String? {
            Array(text.utf8).withUnsafeBufferPointer { JSONByteReader.topLevelString("id", in: $0) }
        }
        #expect(id(#"{"object":"response","output":[{"id":"msg_1"}],"id":"resp_1"}"#) == "resp_1")
        #expect(id(#"{"id":"r\u0065sp"}"#) == "resp")
        #expect(id(#"{"output":{"id":"inner"}}"#) == nil)
        #expect(id(#"{"id":"resp_1""#) == nil)
        #expect(id(#"{"id":5}"#) == nil)
    }
}

/// The word-at-a-time scan for the end of plain string bytes agrees with a byte-by-byte one everywhere.
@Suite struct JSONStringScanTests {
    static func reference(_ bytes: [UInt8], from start: Int) -> (end: Int, nonASCII: Bool) {
        var position = start
        var nonASCII = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            nonASCII = nonASCII || byte >= 0x80
            position += 1
        }
        return (position, nonASCII)
    }

    @Test func theWordScanAgreesWithTheByteScan() {
        var generator = SplitMix(seed: 0x5CA1_AB1E)
        // Mostly plain bytes, the special ones now and then, so runs of every length end on each kind.
        let special: [UInt8] = [0x22, 0x5C, 0x00, 0x1F, 0x0A, 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF, 0xC3, 0xA9]
        for round in 0..<20_000 {
            let count = Int(generator.next() % 40)
            let bytes: [UInt8] = (0..<count).map { _ in
                let roll = generator.next()
                return roll % 9 == 0 ? special[Int(roll / 9 % UInt64(special.count))] : UInt8(0x20 + roll % 0x5F)
            }
            let start = count == 0 ? 0 : Int(generator.next() % UInt64(count))
            let scanned = bytes.withUnsafeBufferPointer { JSONStringScan.plainRun(in: $0, from: start) }
            let expected = Self.reference(bytes, from: start)
            #expect(scanned == expected, "round \(round): \(bytes) from \(start)")
            if scanned != expected { return }
        }
    }
}
