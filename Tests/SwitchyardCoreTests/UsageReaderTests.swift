import Testing

@testable import SwitchyardCore

/// `Usage.read`, the byte-level reader of an answer's `usage` object, against the parsed value it stands in for.
@Suite struct UsageReaderTests {
    /// What the reader makes of `text`, checked against the parsed path whenever it answers.
    func read(_ text: String, reasoningIncluded: Bool = false) -> Usage? {
        let bytes = Array(text.utf8)
        let fast = bytes.withUnsafeBufferPointer { Usage.read(object: $0, completionIncludesReasoning: reasoningIncluded) }
        if let fast {
            let parsed = Usage(json: try? JSONParser.parse(bytes), completionIncludesReasoning: reasoningIncluded)
            #expect(fast == parsed, "reader and parser disagree on \(text)")
        }
        return fast
    }

    @Test func readsXAIsAndOpenAIsShapes() {
        let xai =
            #"{"prompt_tokens":37,"completion_tokens":530,"total_tokens":800,"prompt_tokens_details":{"text_tokens":37,"#
            + #""audio_tokens":0,"image_tokens":0,"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":233,"#
            + #""audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},"num_sources_used":0,"#
            + #""cost_in_usd_ticks":158500000}"#
        #expect(
            read(xai)
                == Usage(promptTokens: 37, completionTokens: 530, reasoningTokens: 233, cachedTokens: 8, upstreamCostUSD: 0.01585)
        )
        // OpenAI counts reasoning inside completion tokens.
        let openAI =
            #"{ "prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_tokens_details": "#
            + #"{ "cached_tokens": 0, "audio_tokens": 0 }, "completion_tokens_details": { "reasoning_tokens": 4 } }"#
        #expect(read(openAI, reasoningIncluded: true) == Usage(promptTokens: 19, completionTokens: 6, reasoningTokens: 4))
        #expect(read(#"{"input_tokens":5,"output_tokens":7}"#) == Usage(promptTokens: 5, completionTokens: 7))
        #expect(read("{}") == Usage())
        #expect(read(" {\n\t\"prompt_tokens\" :\r 2 } ") == Usage(promptTokens: 2))
    }

    @Test func agreesWithTheParsedValueOnOddValues() {
        // Each of these is read (not left to the parser), and must come out as the parsed value does.
        let odd = [
            #"{"prompt_tokens":3,"prompt_tokens":4}"#,  // the last wins
            #"{"prompt_tokens":"3","input_tokens":9}"#,  // not a number: absent
            #"{"prompt_tokens":null,"completion_tokens":2.0,"output_tokens":8}"#,  // 2.0 is whole
            #"{"completion_tokens":2.5,"output_tokens":8}"#,  // 2.5 is not
            #"{"prompt_tokens":1e3,"completion_tokens":-0,"cost_in_usd_ticks":1.5E2}"#,
            #"{"prompt_tokens":123456789012345678901234}"#,  // past Int: absent
            #"{"prompt_tokens":-12,"completion_tokens":999999999999999999}"#,
            #"{"completion_tokens_details":{"reasoning_tokens":3},"completion_tokens_details":{"x":1}}"#,
            #"{"completion_tokens_details":[1,2],"prompt_tokens_details":{"cached_tokens":true}}"#,
            #"{"prompt_tokens_details":{"cached_tokens":1,"cached_tokens":2},"completion_tokens":5}"#,
            #"{"note":"a \"quoted\" } and \\ and \u00e9 \/","list":[{},[],"",0,-1.5e-3,true,false,null],"prompt_tokens":1}"#,
            #"{"nested":{"prompt_tokens":99},"prompt_tokens":1}"#,  // only the top level counts
            #"{"cost_in_usd_ticks":"12","completion_tokens_details":{"reasoning_tokens":"2"}}"#,
            #"{"prompt_tokens":1,"completion_tokens":3,"completion_tokens_details":{"reasoning_tokens":5}}"#,
        ]
        for text in odd {
            #expect(read(text) != nil, "read directly: \(text)")
            _ = read(text, reasoningIncluded: true)
        }
    }

    @Test func readsAnObjectFollowedByMoreBytesWhenAllowed() {
        let bytes = Array(#"{"prompt_tokens":2,"x":"}"} ,"system_fingerprint":"fp"}"#.utf8)
        let read = bytes.withUnsafeBufferPointer {
            Usage.read(object: $0, completionIncludesReasoning: false, allowingTrailingBytes: true)
        }
        #expect(read == Usage(promptTokens: 2))
        #expect(bytes.withUnsafeBufferPointer { Usage.read(object: $0, completionIncludesReasoning: false) } == nil)
    }

    @Test func leavesWhatIsNotPlainJSONToTheParser() {
        let unreadable = [
            #"{"prompt\u005ftokens":3}"#,  // an escaped key
            #"{"prompt_tokens":01}"#, #"{"prompt_tokens":1.}"#, #"{"prompt_tokens":-}"#, #"{"prompt_tokens":1e}"#,
            #"{"prompt_tokens":1,}"#, #"{"prompt_tokens" 1}"#, #"{"prompt_tokens":1"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#,
            #"{"a":tru}"#, #"{"a":[1,]}"#, #"{"a":{"b":1}"#, #"{"a":1} x"#, "[]", "", #"{"a":""# + "\u{01}" + #""}"#,
            String(repeating: #"{"a":"#, count: 70) + "1" + String(repeating: "}", count: 70),  // nested past the reader's depth
        ]
        for text in unreadable {
            #expect(read(text) == nil, "left to the parser: \(text)")
        }
    }
}
