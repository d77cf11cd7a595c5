/// The keys each config section understands, and the LiteLLM keys it accepts but does not act on.
enum ConfigKeys {
    static let topLevel: Set<String> = [
        "model_list", "litellm_settings", "settings", "general_settings", "environment_variables", "router_settings",
        "model_catalog", "runtime",
    ]
    static let topLevelIgnored: Set<String> = [
        "include", "callback_settings", "credential_list", "guardrails", "files_settings",
        "assistant_settings", "finetune_settings", "mcp_servers", "search_tools", "vector_store_registry",
    ]
    static let modelEntry: Set<String> = ["model_name", "litellm_params", "params", "model_info"]
    static let params: Set<String> = [
        "model", "api_base", "base_url", "api_key", "custom_llm_provider", "drop_params", "additional_drop_params",
        "extra_headers", "headers", "timeout", "stream_timeout", "connect_timeout", "first_byte_timeout",
        "idle_timeout", "input_cost_per_token", "output_cost_per_token", "weight", "rpm", "num_retries",
        "tpm", "max_parallel_requests",
    ]
    static let paramsIgnored: Set<String> = [
        "order", "max_retries", "api_version",
        "organization", "region_name", "tags", "mock_response", "merge_reasoning_content_in_choices",
        "use_in_pass_through", "use_litellm_proxy", "configurable_clientside_auth_params", "litellm_credential_name",
        "cache_control_injection_points", "max_budget", "budget_duration", "vertex_project", "vertex_location",
        "aws_access_key_id", "aws_secret_access_key", "aws_region_name", "seed", "temperature", "max_tokens",
    ]
    static let modelInfo: Set<String> = [
        "id", "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
        "input_cost_per_million", "output_cost_per_million", "cache_read_input_cost_per_million",
        "max_input_tokens", "max_output_tokens", "max_tokens", "supported_endpoints",
    ]
    static let modelInfoIgnoredPrefixes = ["supports_"]
    static let modelInfoIgnored: Set<String> = [
        "mode", "base_model", "description", "tier", "db_model", "team_id", "access_groups", "litellm_provider",
        "key", "metadata", "output_vector_size", "input_cost_per_second", "output_cost_per_second",
        "cache_creation_input_token_cost", "output_cost_per_reasoning_token", "updated_at", "updated_by",
        "created_at", "created_by",
    ]
    static let litellmSettings: Set<String> = [
        "drop_params", "request_timeout", "num_retries", "fallbacks", "default_fallbacks", "max_fallbacks",
        "context_window_fallbacks", "ssl_verify", "require_auth_for_metrics_endpoint",
    ]
    static let litellmSettingsIgnored: Set<String> = [
        "set_verbose", "json_logs", "callbacks", "success_callback", "failure_callback", "service_callback",
        "cache", "cache_params", "turn_off_message_logging", "redact_user_api_key_info", "telemetry",
        "content_policy_fallbacks", "allowed_fails", "cooldown_time", "retry_policy", "max_budget",
        "budget_duration",
        "modify_params", "enable_preview_features", "default_internal_user_params",
        "upperbound_key_generate_params", "default_key_generate_params", "max_internal_user_budget",
        "internal_user_budget_duration", "force_ipv4", "disable_end_user_cost_tracking", "return_response_headers",
        "enable_json_schema_validation", "default_team_settings", "key_generation_settings", "callback_settings",
        "store_audit_logs", "disable_add_transform_inline_image_block", "use_chat_completions_url_for_anthropic_messages",
    ]
    static let generalSettings: Set<String> = [
        "master_key", "max_request_size_mb", "max_request_body_bytes", "connect_timeout", "first_byte_timeout",
        "idle_timeout", "request_timeout", "shutdown_grace_period", "database_url", "store_prompts",
        "disable_spend_logs", "allow_requests_on_db_unavailable", "retention", "maximum_spend_logs_retention_period",
        "user_api_key_cache_ttl", "proxy_batch_write_at", "log_buffer_size", "client_header_timeout",
        "client_body_timeout", "keep_alive_timeout", "fleet_sync_interval", "otel_exporter_endpoint",
        "otel_service_name", "disable_admin_ui",
    ]
    static let generalSettingsIgnored: Set<String> = [
        "database_connection_pool_limit", "database_connection_timeout",
        "alerting", "alerting_threshold", "alert_types",
        "store_model_in_db", "background_health_checks",
        "health_check_interval", "disable_master_key_return", "disable_reset_budget", "proxy_budget_rescheduler_min_time",
        "proxy_budget_rescheduler_max_time", "enforce_user_param", "allowed_routes", "admin_only_routes",
        "public_routes", "enable_jwt_auth", "litellm_jwtauth", "custom_auth", "max_response_size_mb",
        "user_header_name", "infer_model_from_keys",
        "disable_retry_on_max_parallel_request_limit_error", "global_max_parallel_requests", "pass_through_endpoints",
        "ui_access_mode", "allow_user_auth", "key_management_system", "use_redis_transaction_buffer",
    ]
}

extension ConfigKeys {
    static let routerSettings: Set<String> = [
        "routing_strategy", "num_retries", "retry_strategy", "retry_after", "fallbacks", "default_fallbacks",
        "max_fallbacks", "allowed_fails", "cooldown_time", "context_window_fallbacks", "allowed_fails_policy",
        "disable_cooldowns", "model_group_alias",
    ]
    static let routerSettingsIgnored: Set<String> = [
        "retry_policy", "redis_host", "redis_port", "redis_password", "timeout",
        "enable_pre_call_checks", "routing_strategy_args", "provider_budget_config",
        "enable_tag_filtering", "default_max_parallel_requests",
    ]
}
