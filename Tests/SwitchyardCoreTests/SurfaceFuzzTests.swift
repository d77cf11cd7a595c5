import Testing

@testable import SwitchyardCore

/// The surface translators on mangled input: bodies and stream chunks with bytes replaced, dropped or duplicated
/// give a translation or a located 400, and stream translators end cleanly, never a trap.
@Suite struct SurfaceFuzzTests {
    static let responsesBody = """
        {"model":"m","instructions":"Be terse.","input":[{"role":"user","content":[{"type":"input_text","text":"hi"},
        {"type":"input_image","image_url":"data:image/png;base64,AA"}]},{"type":"function_call","call_id":"c","name":"f",
        "arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"4"}],"tools":[{"type":"function","name":"f",
        "parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema",
        "name":"a","schema":{}}},"reasoning":{"effort":"high"},"max_output_tokens":5,"stream":true}
        """
    static let messagesBody = """
        {"model":"m","max_tokens":9,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"hi"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"t"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"}]},
        {"type":"image","source":{"type":"url","url":"http://x"}}]}],"tools":[{"name":"f","input_schema":{}}],
        "tool_choice":{"type":"tool","name":"f"},"thinking":{"type":"enabled","budget_tokens":5000},"stop_sequences":["x"]}
        """
    static let chunks = [
        #"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"r"}}]}"#,
        #"{"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        #"{"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        #"{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        #"{"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
    ]

    @Test func mangledBodiesTranslateOrAreRefusedNamingAField() {
        let alphabet = Array(" {}[]\":,0123456789aeinorst\\".utf8)
        var generator = SplitMix(seed: 0x5EED_0023)
        var translated = 0
        var refused = 0
        for round in 0..<2_000 {
            var bytes = Array((round.isMultiple(of: 2) ? Self.responsesBody : Self.messagesBody).utf8)
            generator.mangle(&bytes, alphabet: alphabet)
            guard case .object(let body)? = try? JSONParser.parse(bytes) else { continue }
            let failure: TranslationError?
            if round.isMultiple(of: 2) {
                if case .failure(let error) = ResponsesRequest.toChat(body) { failure = error } else { failure = nil }
            } else {
                let chat = MessagesRequest.toChat(body)
                let responses = MessagesRequest.toResponses(body)
                if case .failure(let error) = chat { failure = error } else { failure = nil }
                // Both translations of a Messages body take and refuse the same bodies (the blocks they refuse
                // differ only in an assistant's image, which this body has none of).
                if case .failure = responses { #expect(failure != nil, "round \(round)") } else { #expect(failure == nil) }
            }
            if let failure {
                refused += 1
                #expect(!failure.param.isEmpty && !failure.message.isEmpty, "round \(round)")
            } else {
                translated += 1
            }
        }
        #expect(translated >= 100 && refused >= 100, "translated \(translated), refused \(refused)")
    }

    @Test func mangledChunksNeverBreakAStreamTranslator() {
        let alphabet = Array(" {}[]\":,0123456789aeinorst".utf8)
        var generator = SplitMix(seed: 0xC4A7_0023)
        for round in 0..<500 {
            var responses = ResponsesStream(
                echo: ResponsesEcho(model: "m"), ids: ResponsesAnswer.IDs(stem: "x"), createdAt: 1,
                completionIncludesReasoning: round.isMultiple(of: 2))
            var messages = MessagesStream(id: "msg", model: "m", completionIncludesReasoning: true)
            var overResponses = MessagesStream(id: "msg", model: "m", completionIncludesReasoning: true)
            var events = responses.start()
            var anthropic: [JSONObject] = []
            var fromResponses: [JSONObject] = []
            for chunk in Self.chunks {
                var bytes = Array(chunk.utf8)
                if generator.next() % 2 == 0 { generator.mangle(&bytes, alphabet: alphabet) }
                guard case .object(let object)? = try? JSONParser.parse(bytes) else { continue }
                let made = responses.chunk(object)
                events += made
                anthropic += messages.chunk(object)
                // The Responses events, mangled again, through the Messages translator for a Responses upstream.
                for event in made {
                    var eventBytes = JSONValue.object(event).encodedBytes()
                    if generator.next() % 2 == 0 { generator.mangle(&eventBytes, alphabet: alphabet) }
                    if case .object(let mangled)? = try? JSONParser.parse(eventBytes) {
                        fromResponses += overResponses.responsesEvent(mangled)
                    }
                }
            }
            events += round % 3 == 0 ? responses.fail(code: "x", message: "y") : responses.finish()
            anthropic += round % 3 == 0 ? messages.fail(status: 502, message: "y") : messages.finish()
            fromResponses += overResponses.finish()
            #expect(responses.isEnded && messages.isEnded && overResponses.isEnded)
            #expect(["message_stop", "error"].contains(fromResponses.last?["type"]?.stringValue ?? ""), "round \(round)")
            let last = events.last?["type"]?.stringValue ?? ""
            #expect(["response.completed", "response.incomplete", "response.failed"].contains(last), "round \(round)")
            #expect(["message_stop", "error"].contains(anthropic.last?["type"]?.stringValue ?? ""), "round \(round)")
            #expect(events.compactMap { $0["sequence_number"]?.intValue } == Array(0..<events.count))
        }
    }

    /// The Responses translation reads a chunk from its bytes (`ChatChunk`) and parses it only when they are not plain:
    /// on mangled chunks (escapes, duplicates, other types, broken structure) the bytes are either left to the parser
    /// or make exactly the events the parsed chunk makes.
    @Test func chunksReadFromTheirBytesTranslateAsTheParsedOnes() {
        let alphabet = Array(" {}[]\":,0123456789aeinorstu\\".utf8)
        var generator = SplitMix(seed: 0xB17E_5019)
        var read = 0
        var leftToTheParser = 0
        for round in 0..<800 {
            let ids = ResponsesAnswer.IDs(stem: "x")
            var fromBytes = ResponsesStream(
                echo: ResponsesEcho(model: "m"), ids: ids, createdAt: 1, completionIncludesReasoning: true)
            var fromParsed = fromBytes
            var messagesFromBytes = MessagesStream(id: "msg", model: "m", completionIncludesReasoning: true)
            var messagesFromParsed = messagesFromBytes
            for chunk in Self.chunks + [#"{"model":"m","choices":[{"delta":{"content":"a\u00e9\n"},"finish_reason":null}]}"#] {
                var bytes = Array(chunk.utf8)
                if round > 0, generator.next() % 2 == 0 { generator.mangle(&bytes, alphabet: alphabet) }
                let parsed = (try? JSONParser.parse(bytes))?.objectValue
                let viaBytes = bytes.withUnsafeBufferPointer { fromBytes.chunk(bytes: $0) }
                let viaParser = parsed.map { fromParsed.chunk($0) }
                if let viaBytes {
                    read += 1
                    #expect(viaBytes == viaParser, "round \(round): \(String(decoding: bytes, as: UTF8.self))")
                } else {
                    leftToTheParser += 1
                    if let parsed { _ = fromBytes.chunk(parsed) }
                }
                let messagesViaBytes = bytes.withUnsafeBufferPointer { messagesFromBytes.chunk(bytes: $0) }
                let messagesViaParser = parsed.map { messagesFromParsed.chunk($0) }
                if let messagesViaBytes {
                    #expect(messagesViaBytes == messagesViaParser, "round \(round)")
                } else if let parsed {
                    _ = messagesFromBytes.chunk(parsed)
                }
            }
            #expect(fromBytes.finish() == fromParsed.finish(), "round \(round)")
            #expect(messagesFromBytes.finish() == messagesFromParsed.finish(), "round \(round)")
        }
        #expect(read >= 1_000 && leftToTheParser >= 500, "read \(read), left to the parser \(leftToTheParser)")
    }

    /// The Messages translation over a Responses upstream reads deltas from their bytes and skips the events it does
    /// not act on unparsed: on mangled events, what it makes is what the parsed events make.
    @Test func responsesEventsReadFromTheirBytesTranslateAsTheParsedOnes() {
        let alphabet = Array(" {}[]\":,0123456789aeinorst.\\".utf8)
        var generator = SplitMix(seed: 0x5E1F_0019)
        // A Responses stream's events, as an upstream sends them.
        var upstream = ResponsesStream(
            echo: ResponsesEcho(model: "m"), ids: ResponsesAnswer.IDs(stem: "x"), createdAt: 1, completionIncludesReasoning: true)
        var events = upstream.start()
        for chunk in Self.chunks {
            if case .object(let object)? = try? JSONParser.parse(Array(chunk.utf8)) { events += upstream.chunk(object) }
        }
        events += upstream.finish()
        var read = 0
        for round in 0..<300 {
            var fromBytes = MessagesStream(id: "msg", model: "m", completionIncludesReasoning: true)
            var fromParsed = fromBytes
            for event in events {
                var bytes = JSONValue.object(event).encodedBytes()
                if round > 0, generator.next() % 4 == 0 { generator.mangle(&bytes, alphabet: alphabet) }
                let parsed = (try? JSONParser.parse(bytes))?.objectValue
                let viaParser = parsed.map { fromParsed.responsesEvent($0) }
                if let viaBytes = bytes.withUnsafeBufferPointer({ fromBytes.responsesEvent(bytes: $0) }) {
                    read += 1
                    #expect(viaBytes == viaParser, "round \(round): \(String(decoding: bytes, as: UTF8.self))")
                } else if let parsed {
                    _ = fromBytes.responsesEvent(parsed)
                }
            }
            #expect(fromBytes.finish() == fromParsed.finish(), "round \(round)")
        }
        #expect(read >= 1_000, "read \(read)")
    }
}
