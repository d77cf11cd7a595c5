import SwitchyardCore
import Synchronization

/// One model name the mock answers, with what the catalog says of it.
struct MockModel: Sendable {
    /// The name the request used.
    let requested: String
    /// The name the answer carries: the successor's for a retired name.
    let answeredAs: String
    /// The effort a retired name is served at.
    let servedEffort: String?
    /// The catalog's facts (for a retired name: its own rules, the successor's window and prices).
    let facts: ModelFacts
}

/// The models of the catalog's `xai` section, looked up by requested name once and then remembered.
final class MockModels: Sendable {
    let catalog: ModelCatalog
    private let known = Mutex<[String: MockModel?]>([:])

    init(catalog: ModelCatalog) {
        self.catalog = catalog
    }

    /// The names `GET /v1/models` lists: the catalog's current (not retired) models with exact names.
    var listed: [String] {
        (catalog.providers["xai"]?.models ?? []).filter { $0.retired == nil && !$0.name.contains("*") }.map(\.name).sorted()
    }

    /// The model a request names, or nil when the catalog has no row for it (xAI's 404).
    func model(named name: String) -> MockModel? {
        if let found = known.withLock({ $0[name] }) { return found }
        var model: MockModel?
        if let row = catalog.providers["xai"]?.row(for: name) {
            let retired = row.retired != nil ? row.servedBy : nil
            model = MockModel(
                requested: name, answeredAs: retired ?? name, servedEffort: retired != nil ? row.servedEffort : nil,
                facts: catalog.facts(provider: "xai", model: name))
        }
        known.withLock { known in
            if known.count > 10_000 { known.removeAll() }
            known[name] = model
        }
        return model
    }
}
