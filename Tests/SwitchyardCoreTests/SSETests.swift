import Testing

@testable import SwitchyardCore

@Suite struct SSETests {
    let stream = Array(
        ": keepalive\n\ndata: {\"a\":1}\n\ndata: {\"choices\":[]}\r\n\r\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n".utf8)

    @Test func everySplitPointYieldsTheSameEvents() throws {
        var whole = SSEEventSplitter()
        let expected = try whole.append(stream)
        #expect(expected.count == 5)
        for cut in 0...stream.count {
            var splitter = SSEEventSplitter()
            let events = try splitter.append(stream[..<cut]) + splitter.append(stream[cut...])
            #expect(events == expected, "cut at \(cut)")
        }
    }

    /// `forEachEvent` (events read in place when nothing is pending) against `append`, cut in two and in three
    /// at every pair of places, plus byte by byte.
    @Test func eventsInPlaceAreTheSameEventsAsAppended() throws {
        func inPlace(_ pieces: [ArraySlice<UInt8>]) throws -> [[UInt8]] {
            var splitter = SSEEventSplitter()
            var events: [[UInt8]] = []
            for piece in pieces {
                try Array(piece).withUnsafeBytes { raw in try splitter.forEachEvent(in: raw) { events.append(Array($0)) } }
            }
            #expect(!splitter.hasPendingContent)
            return events
        }
        // With CRs, and without (chunks with no CR have their line feeds found by `memchr`).
        let withoutCR = Array(": c\n\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\n\ndata: z\n\ndata: [DONE]\n\n".utf8)
        for stream in [stream, withoutCR] {
            var whole = SSEEventSplitter()
            let expected = try whole.append(stream)
            #expect(expected.count == 5)
            #expect(try inPlace([stream[...]]) == expected)
            #expect(try inPlace(stream.indices.map { stream[$0...$0] }) == expected, "byte by byte")
            for first in 0...stream.count {
                for second in stride(from: first, through: stream.count, by: 3) {
                    let pieces = [stream[..<first], stream[first..<second], stream[second...]]
                    #expect(try inPlace(pieces) == expected, "cut at \(first) and \(second)")
                }
            }
        }
        var small = SSEEventSplitter(maxEventBytes: 16)
        let long = Array(repeating: UInt8(ascii: "x"), count: 32)
        #expect(throws: SSEEventSplitter.EventTooLarge.self) {
            try long.withUnsafeBytes { raw in try small.forEachEvent(in: raw) { _ in } }
        }
    }

    @Test func byteAtATimeYieldsTheSameEvents() throws {
        var splitter = SSEEventSplitter()
        var events: [[UInt8]] = []
        for byte in stream { events += try splitter.append([byte]) }
        #expect(events.count == 5)
        #expect(events.joined().elementsEqual(stream), "event bytes are forwarded unchanged")
    }

    @Test func eventFieldsParse() throws {
        var splitter = SSEEventSplitter()
        let events = try splitter.append(stream).map(SSEEvent.init(bytes:))
        #expect(events[0].isCommentOnly)
        #expect(events[1].data == Array("{\"a\":1}".utf8))
        #expect(events[3].data == Array("line1\nline2".utf8))
        #expect(events[4].isDone)
    }

    @Test func unterminatedTailIsLeftForDrain() throws {
        var splitter = SSEEventSplitter()
        #expect(try splitter.append(Array("data: {\"partial\"".utf8)).isEmpty)
        #expect(splitter.hasPendingContent)
        #expect(splitter.drain() == Array("data: {\"partial\"".utf8))
    }

    @Test func oversizedEventIsAnError() {
        var splitter = SSEEventSplitter(maxEventBytes: 16)
        #expect(throws: SSEEventSplitter.EventTooLarge.self) {
            try splitter.append(Array(repeating: UInt8(ascii: "x"), count: 32))
        }
    }

    @Test func containsBytesFindsMarkersButNotEscapedOnes() {
        #expect(Array(#"{"usage":{}}"#.utf8).containsBytes("\"usage\""))
        #expect(!Array(#"{"content":"say \"usage\" now"}"#.utf8).containsBytes("\"usage\""))
        #expect(Array("ab\"usage\"".utf8).containsBytes("\"usage\""), "at the very end")
        #expect(Array("\"usage\"".utf8).containsBytes("\"usage\""), "the whole input")
        #expect(!Array("\"usage".utf8).containsBytes("\"usage\""), "cut short at the end")
        #expect(!Array("\"usag\"usag".utf8).containsBytes("\"usage\""), "partial matches only")
        #expect(Array("xx\"usag\"usage\"".utf8).containsBytes("\"usage\""), "a partial match before a real one")
        #expect(!Array("abc".utf8).containsBytes(""), "an empty marker")
        #expect(![UInt8]().containsBytes("a"))
        #expect(Array("xay".utf8).containsBytes("a"), "a one-character marker")
        let reversed = Array("\"egasu\" ,".utf8).reversed()  // not contiguous: searched through a copy
        #expect(reversed.containsBytes("\"usage\""))
        #expect(!reversed.containsBytes("\"error\""))
    }
}
