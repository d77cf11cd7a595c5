extension Usage {
    /// Reads a `usage` object straight from its bytes, as `init(json:completionIncludesReasoning:)` reads the
    /// parsed value (the last of repeated keys wins; a field that is not an integer counts as absent), without
    /// building the value: parsing it made a string of every key and a value of every member, and this runs on
    /// every answer. Nil when the bytes are not plainly one JSON object (a key with an escape, anything
    /// malformed): the caller then parses them and reads the value. With `allowingTrailingBytes`, the object
    /// is read from the start of `bytes` and whatever follows its end is left alone.
    public static func read(
        object bytes: UnsafeBufferPointer<UInt8>, completionIncludesReasoning: Bool, allowingTrailingBytes: Bool = false
    ) -> Usage? {
        readWithTicks(
            object: bytes, completionIncludesReasoning: completionIncludesReasoning,
            allowingTrailingBytes: allowingTrailingBytes
        )?.usage
    }

    /// `read(object:completionIncludesReasoning:allowingTrailingBytes:)`, with the text of `cost_in_usd_ticks` when it
    /// is a number (passed on as it is by the translated surfaces) and where the object ends in `bytes`.
    static func readWithTicks(
        object bytes: UnsafeBufferPointer<UInt8>, completionIncludesReasoning: Bool, allowingTrailingBytes: Bool
    ) -> (usage: Usage, ticksText: String?, end: Int)? {
        var ticksText: String?
        var reader = JSONByteReader(bytes: bytes)
        var prompt: Int?
        var input: Int?
        var completion: Int?
        var output: Int?
        var reasoning: Int?
        var cached: Int?
        var ticks: Double?
        let complete = reader.members { reader, key in
            if reader.keyIs(key, "prompt_tokens") { return reader.integer(into: &prompt) }
            if reader.keyIs(key, "completion_tokens") { return reader.integer(into: &completion) }
            if reader.keyIs(key, "input_tokens") { return reader.integer(into: &input) }
            if reader.keyIs(key, "output_tokens") { return reader.integer(into: &output) }
            if reader.keyIs(key, "cost_in_usd_ticks") {
                reader.skipSpace()
                let start = reader.index
                let read = reader.double(into: &ticks)
                ticksText =
                    ticks == nil
                    ? nil : String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<reader.index]), as: UTF8.self)
                return read
            }
            if reader.keyIs(key, "completion_tokens_details") { return reader.detail("reasoning_tokens", into: &reasoning) }
            if reader.keyIs(key, "prompt_tokens_details") { return reader.detail("cached_tokens", into: &cached) }
            if reader.keyIs(key, "output_tokens_details") { return reader.detail("reasoning_tokens", into: &reasoning) }
            if reader.keyIs(key, "input_tokens_details") { return reader.detail("cached_tokens", into: &cached) }
            return reader.skipValue(depth: 0)
        }
        guard complete, allowingTrailingBytes || reader.atEnd else { return nil }
        let reasoningTokens = reasoning ?? 0
        let completionTokens = completion ?? output ?? 0
        // The Responses API's `output_tokens` counts reasoning, whoever serves it.
        let includesReasoning = completionIncludesReasoning || (completion == nil && output != nil)
        let usage = Usage(
            promptTokens: prompt ?? input ?? 0,
            completionTokens: includesReasoning ? max(0, completionTokens - reasoningTokens) : completionTokens,
            reasoningTokens: reasoningTokens, cachedTokens: cached ?? 0, upstreamCostUSD: ticks.map { $0 / 10_000_000_000 })
        return (usage, ticksText, reader.index)
    }
}
