import NIOCore
import Testing

@testable import SwitchyardServer

/// Heads rendered straight into a buffer's memory: numbers, the room running out, and refusals.
@Suite struct RenderedBytesTests {
    @Test func decimalsAreWrittenLikeStringOfInt() {
        for value in [0, 7, 42, 100, 65_535, -1, -907, Int.max, Int.min] {
            var buffer = ByteBuffer()
            buffer.writeRendered(estimate: 0) { $0.add(decimal: value) }
            #expect(String(buffer: buffer) == String(value))
        }
    }

    @Test func aHeadLargerThanTheEstimateIsWrittenWholeAfterGrowing() {
        let value = String(repeating: "v", count: 5000)
        var runs = 0
        var buffer = ByteBuffer(string: "before|")
        let result = buffer.writeRendered(estimate: 100) { out -> Int in
            runs += 1
            out.add("name: ")
            out.add(string: value)
            out.add("\r\n")
            out.addField("field", value)
            return runs
        }
        #expect(String(buffer: buffer) == "before|name: \(value)\r\nfield: \(value)\r\n")
        #expect(result == runs)
        #expect(runs > 1, "100 bytes of room could not hold 5,000")
    }

    @Test func aRefusedFieldWritesNothing() {
        var buffer = ByteBuffer(string: "kept")
        #expect(throws: UpstreamClientError.invalidHeader("x")) {
            try buffer.writeRendered(estimate: 64) { (out) throws(UpstreamClientError) in
                out.add("x: ")
                guard out.addChecked("a\nb") else { throw UpstreamClientError.invalidHeader("x") }
            }
        }
        #expect(String(buffer: buffer) == "kept")
    }

    @Test func aFieldIsOneLineAndACheckedOneRefusesLineBreaksAndNULInNameOrValue() {
        var buffer = ByteBuffer()
        buffer.writeRendered(estimate: 0) { out in
            out.addField("a", "")
            let added = out.addCheckedField("x-b", "c d")
            #expect(added)
            for (name, value) in [("x\r", "v"), ("x", "v\n"), ("x", "a\u{0}b"), ("", "\r\n")] {
                let refused = !out.addCheckedField(name, value)
                #expect(refused, "\(name.debugDescription): \(value.debugDescription)")
            }
        }
        #expect(String(buffer: buffer) == "a: \r\nx-b: c d\r\n")
    }
}
