// Parse cost per MB of request body for three shapes: a plain chat body (long message text, a few keys), a body
// with many keys in one object (the shape that was quadratic), and deep nesting (arrays and objects 120 levels
// down, repeated). Run: swift run -c release JSONParseBench [MB] [rounds]
import Foundation
import SwitchyardCore

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let megabytes = max(1, arguments.first ?? 2)
let rounds = max(1, arguments.dropFirst().first ?? 15)
let target = megabytes * 1_000_000

/// A chat body of about `size` bytes: 40 messages of prose with escapes and a few parameters.
func plainBody(size: Int) -> String {
    let sentence = "The proxy relays \\\"this\\\" text, line after line.\\n "
    let perMessage = max(1, size / 40 / sentence.utf8.count)
    let content = String(repeating: sentence, count: perMessage)
    let messages = (0..<40).map { #"{"role":"\#($0 % 2 == 0 ? "user" : "assistant")","content":"\#(content)"}"# }
    return #"{"model":"grok-code-fast-1","temperature":0.2,"max_tokens":512,"stream":false,"messages":["#
        + messages.joined(separator: ",") + "]}"
}

/// A chat body whose top level holds as many `"kN":N` members as fit in `size` bytes.
func manyKeysBody(size: Int) -> String {
    var parts: [String] = []
    var length = 0
    var index = 0
    while length < size {
        let part = "\"k\(index)\":\(index)"
        parts.append(part)
        length += part.utf8.count + 1
        index += 1
    }
    return #"{"model":"grok-code-fast-1","messages":[{"role":"user","content":"hi"}],"#
        + parts.joined(separator: ",") + "}"
}

/// Objects and arrays nested 120 levels deep, side by side in one array until it is `size` bytes.
func deepBody(size: Int) -> String {
    let one = String(repeating: #"{"a":["#, count: 60) + "1" + String(repeating: "]}", count: 60)
    let count = max(1, size / (one.utf8.count + 1))
    return #"{"model":"grok-code-fast-1","messages":[{"role":"user","content":"hi"}],"metadata":["#
        + Array(repeating: one, count: count).joined(separator: ",") + "]}"
}

print("json-parse: \(rounds) rounds per body, median (min-max) per MB")
for (name, text) in [
    ("plain chat", plainBody(size: target)), ("many keys", manyKeysBody(size: target)),
    ("deep nesting", deepBody(size: target)),
] {
    let bytes = Array(text.utf8)
    var samples: [Double] = []
    var members = 0
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        guard case .object(let object) = try JSONParser.parse(array: bytes) else {
            print("\(name): not an object")
            exit(1)
        }
        let elapsed = ContinuousClock.now - start
        members = object.members.count
        samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    samples.sort()
    let mb = Double(bytes.count) / 1_000_000
    print(
        String(
            format: "json-parse: %@: %.2f MB, %d top-level members: %.2f ms/MB (%.2f-%.2f)", name, mb, members,
            samples[samples.count / 2] / mb, samples[0] / mb, samples[samples.count - 1] / mb))
}
