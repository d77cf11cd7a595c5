// switchyard-load: the benchmark's own load client. It measures what wrk cannot: open-loop constant-rate load
// timed from each request's scheduled send (no coordinated omission), time to first byte, time to first content
// delta, every inter-chunk gap, frames per stream and stalls. Prints one JSON object.
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import SwitchyardCore

@main
struct LoadClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-load",
        abstract: "Open- or closed-loop HTTP load for chat completions; prints a JSON summary (times in microseconds).")

    @Option(help: "Chat completions URL, e.g. http://127.0.0.1:4000/v1/chat/completions.")
    var url: String

    @Option(help: "Model alias (the same name is an upstream model of the mock, so direct and proxied bodies match).")
    var model = "grok-code-fast-1"

    @Flag(help: "Ask for a stream and time its events.")
    var stream = false

    @Flag(help: "With --stream, ask for the usage chunk (so a proxy that would strip its own need not).")
    var includeUsage = false

    @Option(help: "Open loop: requests per second, each timed from its scheduled send. 0 means closed loop.")
    var rate: Double = 0

    @Option(help: "Closed loop: concurrent workers. Open loop: the most requests in flight.")
    var concurrency = 1

    @Option(help: "Requests to send (after warm-up).")
    var requests = 1000

    @Option(help: "Warm-up requests, not measured.")
    var warmup = 100

    @Option(help: "Bytes of prompt text per request.")
    var promptBytes = 150

    @Option(help: "Expected gap between stream events, ms; a gap over 10x this is a stall.")
    var expectedIntervalMs: Double = 0

    @Option(help: "Bearer key to send.")
    var key: String?

    @Option(help: "Give up on one request after this many seconds.")
    var timeout: Int64 = 120

    func run() async throws {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(timeout)))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(concurrency, 1) + 16)
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let body = ByteBuffer(bytes: requestBody().encodedBytes())
        let plan = Plan(client: client, url: url, key: key, body: body, stream: stream, timeout: timeout)
        _ = await plan.closedLoop(count: warmup, workers: max(1, min(concurrency, 64)))
        let started = ContinuousClock.now
        let results =
            rate > 0
            ? await plan.openLoop(count: requests, rate: rate, maxInFlight: max(concurrency, 1))
            : await plan.closedLoop(count: requests, workers: max(concurrency, 1))
        let elapsed = ContinuousClock.now - started
        try? await client.shutdown()
        print(Summary(results: results, elapsed: elapsed, expectedIntervalMs: expectedIntervalMs).json.encodedString())
    }

    func requestBody() -> JSONValue {
        let words = "Summarize the trade-offs of proxies for language model APIs in plain words. "
        var prompt = ""
        while prompt.utf8.count < promptBytes { prompt += words }
        prompt = String(prompt.utf8.prefix(promptBytes)) ?? prompt
        var object: JSONObject = [
            "model": .string(model), "messages": .array([.object(["role": "user", "content": .string(prompt)])]),
        ]
        if stream { object["stream"] = true }
        if stream, includeUsage { object["stream_options"] = .object(["include_usage": true]) }
        return .object(object)
    }
}

/// One request's measurements, in microseconds from its scheduled send.
struct Outcome: Sendable {
    var ok = false
    var status = 0
    var latency: UInt64 = 0
    var firstByte: UInt64 = 0
    var firstContent: UInt64?
    var gaps: [UInt64] = []
    var frames = 0
    var sawDone = false
}

/// Sends requests and times them.
struct Plan: Sendable {
    let client: HTTPClient
    let url: String
    let key: String?
    let body: ByteBuffer
    let stream: Bool
    let timeout: Int64

    static func micros(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }

    func one(scheduled: ContinuousClock.Instant) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        request.body = .bytes(body)
        var outcome = Outcome()
        do {
            let response = try await client.execute(request, timeout: .seconds(timeout))
            outcome.firstByte = Self.micros(ContinuousClock.now - scheduled)
            outcome.status = Int(response.status.code)
            if stream {
                var splitter = SSEEventSplitter()
                var last: ContinuousClock.Instant?
                for try await chunk in response.body {
                    let now = ContinuousClock.now
                    for event in try splitter.append(chunk.readableBytesView) {
                        let parsed = SSEEvent(bytes: event)
                        guard let data = parsed.data else { continue }
                        outcome.frames += 1
                        if let last { outcome.gaps.append(Self.micros(now - last)) }
                        last = now
                        if parsed.isDone { outcome.sawDone = true }
                        if outcome.firstContent == nil, data.containsBytes("\"content\":\""),
                            !data.containsBytes("\"content\":\"\"")
                        {
                            outcome.firstContent = Self.micros(now - scheduled)
                        }
                    }
                }
                outcome.ok = outcome.status == 200 && outcome.sawDone
            } else {
                var received = 0
                for try await chunk in response.body { received += chunk.readableBytes }
                outcome.ok = outcome.status == 200 && received > 0
            }
        } catch {
            outcome.ok = false
        }
        outcome.latency = Self.micros(ContinuousClock.now - scheduled)
        return outcome
    }

    /// `workers` loops, each sending its share back to back.
    func closedLoop(count: Int, workers: Int) async -> [Outcome] {
        guard count > 0 else { return [] }
        return await withTaskGroup(of: [Outcome].self) { group in
            for worker in 0..<workers {
                let share = count / workers + (worker < count % workers ? 1 : 0)
                group.addTask {
                    var outcomes: [Outcome] = []
                    outcomes.reserveCapacity(share)
                    for _ in 0..<share { outcomes.append(await one(scheduled: .now)) }
                    return outcomes
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Requests sent at a constant rate, each timed from when it was due, not from when it went out.
    func openLoop(count: Int, rate: Double, maxInFlight: Int) async -> [Outcome] {
        let start = ContinuousClock.now + .milliseconds(10)
        let interval = Duration.nanoseconds(Int64(1e9 / rate))
        return await withTaskGroup(of: Outcome.self) { group in
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(count)
            var inFlight = 0
            for index in 0..<count {
                let due = start + interval * index
                if inFlight >= maxInFlight, let done = await group.next() {
                    outcomes.append(done)
                    inFlight -= 1
                }
                try? await Task.sleep(until: due, clock: .continuous)
                group.addTask { await one(scheduled: due) }
                inFlight += 1
            }
            for await done in group { outcomes.append(done) }
            return outcomes
        }
    }
}

/// Percentiles and counts as JSON.
struct Summary {
    let json: JSONValue

    init(results: [Outcome], elapsed: Duration, expectedIntervalMs: Double) {
        func histogram(_ values: [UInt64]) -> JSONValue {
            guard !values.isEmpty else { return .null }
            var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000)
            for value in values { _ = histogram.record(min(value, 600_000_000)) }
            return .object([
                "count": .int(values.count), "p50": .int(Int(histogram.valueAtPercentile(50))),
                "p90": .int(Int(histogram.valueAtPercentile(90))), "p99": .int(Int(histogram.valueAtPercentile(99))),
                "p999": .int(Int(histogram.valueAtPercentile(99.9))), "max": .int(Int(histogram.max)),
                "mean": .double((histogram.mean * 10).rounded() / 10),
            ])
        }
        let ok = results.filter(\.ok)
        let seconds = Double(Plan.micros(elapsed)) / 1e6
        let stallLimit = UInt64(expectedIntervalMs * 10 * 1000)
        let stalled = expectedIntervalMs > 0 ? ok.filter { $0.gaps.contains { $0 > stallLimit } }.count : 0
        let frames = ok.map(\.frames)
        json = .object([
            "requests": .int(results.count), "ok": .int(ok.count), "errors": .int(results.count - ok.count),
            "statuses": .object(
                JSONObject(
                    Dictionary(grouping: results, by: \.status).sorted { $0.key < $1.key }.map {
                        (String($0.key), JSONValue.int($0.value.count))
                    })),
            "seconds": .double((seconds * 1000).rounded() / 1000),
            "rps": .double((Double(results.count) / max(seconds, 1e-9)).rounded()),
            "latency_us": histogram(ok.map(\.latency)), "ttfb_us": histogram(ok.map(\.firstByte)),
            "ttfc_us": histogram(ok.compactMap(\.firstContent)), "gap_us": histogram(ok.flatMap(\.gaps)),
            "frames_per_stream": frames.isEmpty
                ? .null
                : .object([
                    "min": .int(frames.min() ?? 0), "max": .int(frames.max() ?? 0),
                    "mean": .double(Double(frames.reduce(0, +)) / Double(frames.count)),
                ]),
            "stalled_streams": .int(stalled), "stall_free_streams": .int(stream(results) ? ok.count - stalled : 0),
        ])

        func stream(_ results: [Outcome]) -> Bool { results.contains { $0.frames > 0 } }
    }
}
