import Foundation
import SwitchyardCore
import SwitchyardStorage

/// `switchyard config export` and `config import`: the effective configuration (the file with the database's
/// entries laid over it) as one YAML file, and such a file loaded into the database.
extension RuntimeConfigAPI {
    /// Stands for a literal secret of the file in an export: the database never takes one, so an import of the
    /// export refuses that entry until it names an environment variable.
    static let redacted = "<redacted: name it as os.environ/NAME>"

    /// The file's text with its `model_list` replaced by the effective one (every deployment with its id) and a
    /// `runtime` section holding the feature endpoints (with every prompt version), flags, fallback chains and
    /// rate-limit configurations.
    public func export(fileText: String) async throws(ProxyError) -> String {
        let (runtime, table) = try await current()
        var root = ((try? YAMLReader.read(fileText))??.jsonValue.objectValue) ?? JSONObject()
        let config = table.base.overlaidModels(runtime)
        root["model_list"] = .array(
            zip(config.deployments, config.deploymentIDs).map { entry, id in
                var entry = entry
                entry.id = id
                return .object(entry.json(secret: { _ in Self.redacted }))
            })
        var section = JSONObject()
        section["features"] = .array(
            runtime.features.values.sorted { $0.slug < $1.slug }.map { feature in
                var object = feature.json
                object["prompts"] = .array(
                    (runtime.prompts[feature.slug] ?? [:]).values.sorted { $0.version < $1.version }.map {
                        var prompt = $0.json
                        _ = prompt.removeValue(forKey: "slug")
                        return .object(prompt)
                    })
                return .object(object)
            })
        section["flags"] = .array(runtime.flags.values.sorted { $0.name < $1.name }.map { .object($0.json) })
        section["fallbacks"] = .array(runtime.fallbacks.values.sorted { $0.name < $1.name }.map { .object($0.json) })
        section["rate_limits"] = .array(runtime.rateLimits.values.sorted { $0.model < $1.model }.map { .object($0.json) })
        root["runtime"] = .object(section)
        // The file's other secrets (a literal master key, a database password) never leave in an export either.
        return Redactor(secrets: table.secrets).redact(
            "# The effective configuration: \(table.base.path) with the database's run-time entries (revision "
                + "\(runtime.revision)).\n# `switchyard config import` loads it into a database.\n"
                + YAMLWriter.document(root))
    }

    /// Loads an exported (or hand-written) file's `model_list` and `runtime` section into the database, in one
    /// transaction: entries that differ from those in force are written (audited as `import`), the same are left
    /// alone, and nothing else is removed. Every entry is checked first; one bad entry refuses the whole file.
    public func importConfig(_ text: String, path: String, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        let root: JSONObject
        do {
            guard let node = try YAMLReader.read(text), let object = node.jsonValue.objectValue else {
                throw Self.refused("file", ["\(path) is not a YAML mapping"])
            }
            root = object
        } catch let error as YAMLSyntaxError {
            throw Self.refused("file", ["\(path): \(error.problem)"])
        } catch let error as ProxyError {
            throw error
        } catch {
            throw Self.refused("file", ["\(path) could not be read"])
        }
        var (runtime, table) = try await current()
        var problems: [String] = []
        var changes: [ConfigChange] = []
        var unchanged = 0
        // Models: each read like a /model/new body; compared with the entry in force.
        let current = table.base.overlaidModels(runtime)
        var inForce: [String: JSONObject] = [:]
        for (entry, id) in zip(current.deployments, current.deploymentIDs) {
            var entry = entry
            entry.id = id
            inForce[id] = entry.json()
        }
        var countByAlias: [String: Int] = [:]
        for (index, item) in (root["model_list"]?.arrayValue ?? []).enumerated() {
            // An entry the same as the one in force, but for a secret the export left out, is unchanged.
            if let alias = item.objectValue?["model_name"]?.stringValue {
                let id =
                    item.objectValue?["model_info"]?.objectValue?["id"]?.stringValue
                    ?? "\(alias)#\((countByAlias[alias] ?? 0) + 1)"
                if let kept = inForce[id], Self.sameButForRedacted(item, kept) {
                    countByAlias[alias, default: 0] += 1
                    unchanged += 1
                    continue
                }
            }
            let parsed = ConfigLoader.parseModelEntry(item.encodedString(), path: "\(path) model_list entry \(index + 1)")
            guard var entry = parsed.entry, !parsed.hasErrors else {
                problems += parsed.diagnostics.filter { $0.severity == .error }.map {
                    var shown = $0
                    shown.location = nil
                    return "model_list entry \(index + 1): \(shown.description)"
                }
                continue
            }
            countByAlias[entry.alias, default: 0] += 1
            let id = entry.id ?? "\(entry.alias)#\(countByAlias[entry.alias, default: 1])"
            entry.id = id
            let normalized = entry.json()
            if inForce[id] == normalized {
                unchanged += 1
                continue
            }
            let body = JSONValue.object(item.objectValue?.merging(["model_info": .object(["id": .string(id)])]) ?? normalized)
            runtime = runtime.replacing(
                model: id,
                with: RuntimeModel(
                    id: id, entry: entry, body: body.encodedString(), changedAt: now.timeIntervalSince1970, changedBy: actor))
            changes.append(
                ConfigChange(
                    kind: RuntimeConfig.modelKind, name: id, body: body.encodedString(), action: "import", actor: actor,
                    time: now.timeIntervalSince1970))
        }
        // The run-time section: each entry read as its route reads it.
        let section = root["runtime"]?.objectValue ?? [:]
        func record(_ kind: RuntimeConfig.Kind, _ name: String, _ json: JSONObject, same: Bool) {
            if same {
                unchanged += 1
            } else {
                changes.append(change(kind, name, json, action: "import", now: now))
            }
        }
        for (index, item) in (section["features"]?.arrayValue ?? []).enumerated() {
            var object = item.objectValue ?? [:]
            let prompts = object.removeValue(forKey: "prompts")?.arrayValue ?? []
            switch FeatureEndpoint.read(object) {
            case .failure(let error): problems.append("runtime.features[\(index)]: \(error.description)")
            case .success(let feature):
                for (position, promptItem) in prompts.enumerated() {
                    let fields = promptItem.objectValue ?? [:]
                    guard let version = fields["version"]?.intValue else {
                        problems.append("runtime.features[\(index)].prompts[\(position)]: 'version' is required")
                        continue
                    }
                    switch PromptVersion.read(slug: feature.slug, version: version, fields) {
                    case .failure(let error):
                        problems.append("runtime.features[\(index)].prompts[\(position)]: \(error.description)")
                    case .success(let prompt):
                        if let kept = runtime.prompts[feature.slug]?[version], kept != prompt {
                            problems.append(
                                "\(feature.slug) prompt version \(version) differs from the one kept (versions do not change: "
                                    + "add a new one)")
                        }
                        record(
                            .prompt, RuntimeConfig.promptName(slug: feature.slug, version: version), prompt.json,
                            same: runtime.prompts[feature.slug]?[version] == prompt)
                        runtime.prompts[feature.slug, default: [:]][version] = prompt
                    }
                }
                if let version = feature.promptVersion, runtime.prompts[feature.slug]?[version] == nil {
                    problems.append("runtime.features[\(index)]: prompt version \(version) of \(feature.slug) does not exist")
                }
                var kept = runtime.features[feature.slug]
                kept?.prompt = nil
                record(.feature, feature.slug, feature.json, same: kept == feature)
                runtime.features[feature.slug] = feature
            }
        }
        for (index, item) in (section["flags"]?.arrayValue ?? []).enumerated() {
            switch FeatureFlag.read(item.objectValue ?? [:]) {
            case .failure(let error): problems.append("runtime.flags[\(index)]: \(error.description)")
            case .success(let flag):
                record(.flag, flag.name, flag.json, same: runtime.flags[flag.name] == flag)
                runtime.flags[flag.name] = flag
            }
        }
        for (index, item) in (section["fallbacks"]?.arrayValue ?? []).enumerated() {
            switch FallbackChain.read(item.objectValue ?? [:]) {
            case .failure(let error): problems.append("runtime.fallbacks[\(index)]: \(error.description)")
            case .success(let chain):
                record(.fallback, chain.name, chain.json, same: runtime.fallbacks[chain.name] == chain)
                runtime.fallbacks[chain.name] = chain
            }
        }
        for (index, item) in (section["rate_limits"]?.arrayValue ?? []).enumerated() {
            switch RateLimitConfig.read(item.objectValue ?? [:]) {
            case .failure(let error): problems.append("runtime.rate_limits[\(index)]: \(error.description)")
            case .success(let limit):
                record(.rateLimit, limit.model, limit.json, same: runtime.rateLimits[limit.model] == limit)
                runtime.rateLimits[limit.model] = limit
            }
        }
        // The whole result must serve: every imported deployment enabled, every named alias known.
        runtime.linkPrompts()
        table = table.with(runtime: runtime)
        for change in changes where change.kind == RuntimeConfig.modelKind {
            if let deployment = table.deployments.first(where: { $0.id == change.name }),
                case .disabled(let reason, let fix) = deployment.status
            {
                problems.append("model \(deployment.alias) (\(change.name)) would not serve: \(reason); fix: \(fix)")
            }
        }
        for feature in runtime.features.values where table.deployments(for: feature.model) == nil {
            problems.append("feature \(feature.slug) uses '\(feature.model)', which is no alias")
        }
        for chain in runtime.fallbacks.values {
            for alias in [chain.model] + chain.chain where table.deployments(for: alias) == nil {
                problems.append("fallback chain \(chain.name) names '\(alias)', which is no alias")
            }
        }
        guard problems.isEmpty else { throw Self.refused("file", problems) }
        let revision = changes.isEmpty ? runtime.revision : try await commit(changes, reason: "import of \(path)")
        return .object([
            "changed": .int(changes.count), "unchanged": .int(unchanged), "revision": .int(revision),
        ])
    }

    /// Whether an imported entry means the entry in force, reading each redacted secret as the one in force.
    static func sameButForRedacted(_ item: JSONValue, _ kept: JSONObject) -> Bool {
        func restored(_ value: JSONValue, _ original: JSONValue?) -> JSONValue {
            switch value {
            case .string(redacted): return original ?? value
            case .object(let object):
                var result = JSONObject()
                for (key, inner) in object { result[key] = restored(inner, original?.objectValue?[key]) }
                return .object(result)
            default: return value
            }
        }
        let text = restored(item, .object(kept)).encodedString()
        // Read as the file reads it (a literal key is the file's business here), then written back.
        guard let config = ConfigLoader.parse("model_list:\n  - \(text)\n", path: "import").config,
            var entry = config.deployments.first
        else { return false }
        entry.id = kept["model_info"]?.objectValue?["id"]?.stringValue
        return entry.json() == kept
    }
}
