// Times loading and validating a config of N deployments (default 1,000): YAML parse, typed walk,
// environment resolution and validation. Run: swift run -c release ConfigLoadBench [N] [rounds]
import Foundation
import SwitchyardCore

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let count = arguments.first ?? 1000
let rounds = arguments.dropFirst().first ?? 30

var yaml = "model_list:\n"
for index in 0..<count {
    let provider = index % 3 == 0 ? "xai/grok-code-fast-1" : (index % 3 == 1 ? "openai/gpt-4o-mini" : "mock/echo")
    yaml += """
          - model_name: alias-\(index % 700)
            litellm_params:
              model: \(provider)
              api_key: os.environ/BENCH_KEY
              api_base: https://host-\(index).example.test/v1
              extra_headers: {x-team: team-\(index % 7)}
              timeout: 60
            model_info:
              id: deployment-\(index)
              input_cost_per_token: 0.0000002
              output_cost_per_token: 0.0000015

        """
}
yaml += "litellm_settings:\n  drop_params: true\ngeneral_settings:\n  master_key: sk-bench-master\n"
let environment = EnvironmentSnapshot(["BENCH_KEY": "xai-bench-key-0000000000"])

var samples: [Double] = []
var enabled = 0
for _ in 0..<rounds {
    let start = ContinuousClock.now
    let result = ConfigLoader.parse(yaml, path: "bench.yaml")
    guard let config = result.config else {
        print("config did not load: \(result.diagnostics.prefix(3))")
        exit(1)
    }
    let table = ModelTable(config: config, environment: environment)
    enabled = table.deployments.filter(\.status.isEnabled).count
    let elapsed = ContinuousClock.now - start
    samples.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
}
if CommandLine.arguments.contains("--phases") {
    func time(_ label: String, _ body: () -> Void) {
        let start = ContinuousClock.now
        body()
        print(label, ContinuousClock.now - start)
    }
    time("yaml read") { _ = try? YAMLReader.read(yaml) }
    time("parse (compose + walk)") { _ = ConfigLoader.parse(yaml, path: "b") }
    let config = ConfigLoader.parse(yaml, path: "b").config!
    time("resolve") { _ = ModelTable(config: config, environment: environment) }
}
samples.sort()
let median = samples[samples.count / 2]
print(
    String(
        format: "config-load: %d deployments (%d enabled), %d bytes of YAML, %d rounds: median %.2f ms, min %.2f ms, max %.2f ms",
        count, enabled, yaml.utf8.count, rounds, median, samples[0], samples[samples.count - 1]))
