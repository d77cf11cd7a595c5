import Testing

@testable import SwitchyardCore

/// `general_settings.database_url` and the storage settings.
@Suite struct DatabaseSettingsTests {
    func table(_ general: String, environment: [String: String] = [:], path: String = "/etc/switchyard/proxy.yaml")
        throws -> ModelTable
    {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {model: mock/echo}
            general_settings:
            \(general)
            """
        let result = ConfigLoader.parse(yaml, path: path)
        let config = try #require(result.config, "\(result.diagnostics)")
        #expect(!result.hasErrors, "\(result.diagnostics)")
        return ModelTable(config: config, environment: EnvironmentSnapshot(environment))
    }

    @Test func theConfigWinsThenSwitchyardThenDatabaseURLThenTheDefault() throws {
        let environment = ["SWITCHYARD_DATABASE_URL": "sqlite:/data/a.db", "DATABASE_URL": "postgres://u:pw@db/x"]
        let fromConfig = try table("  database_url: sqlite:local.db", environment: environment)
        #expect(fromConfig.database == Resolved(.sqlite(path: "/etc/switchyard/local.db"), from: .settings))
        let fromSwitchyard = try table("  store_prompts: false", environment: environment)
        #expect(fromSwitchyard.database == Resolved(.sqlite(path: "/data/a.db"), from: .environment("SWITCHYARD_DATABASE_URL")))
        let fromDatabaseURL = try table("  store_prompts: false", environment: ["DATABASE_URL": "postgres://u:pw@db/x"])
        #expect(fromDatabaseURL.database.source == .environment("DATABASE_URL"))
        #expect(fromDatabaseURL.database.value.description == "postgres://u:***@db/x")
        #expect(fromDatabaseURL.secrets.contains("postgres://u:pw@db/x"))
        let byDefault = try table("  store_prompts: false")
        #expect(byDefault.database == Resolved(.sqlite(path: "/etc/switchyard/switchyard.db"), from: .providerDefault))
        let viaEnvironmentReference = try table(
            "  database_url: os.environ/MY_DB", environment: ["MY_DB": "none", "DATABASE_URL": "sqlite:x.db"])
        #expect(viaEnvironmentReference.database == Resolved(.none, from: .settingsEnvironment("MY_DB")))
    }

    @Test func anUnusableURLIsAnErrorThatKeepsStorageOff() throws {
        let table = try table("  database_url: mysql://db/x")
        #expect(table.database.value == .none)
        #expect(table.diagnostics.contains { $0.severity == .error && $0.message.contains("database URL") })
    }

    @Test func storageSettingsAreRead() throws {
        let yaml = """
            model_list:
              - model_name: m
                litellm_params: {model: mock/echo}
            general_settings:
              store_prompts: true
              disable_spend_logs: true
              allow_requests_on_db_unavailable: true
              retention: 30d
              user_api_key_cache_ttl: 2.5
              proxy_batch_write_at: 0.5
              log_buffer_size: 500
            """
        let settings = try #require(ConfigLoader.parse(yaml, path: "p.yaml", strict: true).config?.settings)
        #expect(settings.storePrompts && settings.disableSpendLogs && settings.allowRequestsOnDBUnavailable)
        #expect(settings.retention == 30.0 * 86400)
        #expect(settings.keyCacheTTL == 2.5)
        #expect(settings.batchWriteInterval == 0.5)
        #expect(settings.logBufferSize == 500)
        let bad = ConfigLoader.parse(
            "model_list: []\ngeneral_settings: {retention: forever, user_api_key_cache_ttl: 0}\n", path: "p.yaml")
        #expect(bad.diagnostics.filter { $0.severity == .error }.count == 2, "\(bad.diagnostics)")
    }

    @Test func fleetSyncIsOnForPostgreSQLAndOffForSQLiteUnlessSet() throws {
        let postgres = DatabaseLocation.postgres(url: Secret("postgres://u@127.0.0.1:5432/d"))
        let sqlite = DatabaseLocation.sqlite(path: "/tmp/s.db")
        let defaults = ProxySettings()
        #expect(defaults.fleetSync(for: postgres) == 1)
        #expect(defaults.fleetSync(for: sqlite) == nil)
        #expect(defaults.fleetSync(for: .none) == nil)
        let read = { (text: String) in
            ConfigLoader.parse("model_list: []\ngeneral_settings: {fleet_sync_interval: \(text)}\n", path: "p.yaml")
        }
        let set = try #require(read("0.25").config?.settings)
        #expect(set.fleetSync(for: sqlite) == 0.25 && set.fleetSync(for: postgres) == 0.25)
        let off = try #require(read("0").config?.settings)
        #expect(off.fleetSync(for: postgres) == nil)
        let bad = read("-1")
        #expect(bad.diagnostics.contains { $0.severity == .error && $0.message.contains("fleet_sync_interval") })
    }

    @Test func durationsReadAsLiteLLMWritesThem() {
        #expect(DurationText.seconds("30s") == 30)
        #expect(DurationText.seconds("15m") == 900)
        #expect(DurationText.seconds("1h") == 3600)
        #expect(DurationText.seconds("30d") == 2_592_000)
        #expect(DurationText.seconds("2w") == 1_209_600)
        #expect(DurationText.seconds("1mo") == 2_592_000)
        #expect(DurationText.seconds("45") == 45)
        #expect(DurationText.seconds("soon") == nil)
        #expect(DurationText.seconds("-1d") == nil)
        #expect(DurationText.seconds("0s") == nil)
    }
}
