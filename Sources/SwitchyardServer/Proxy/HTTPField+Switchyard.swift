import HTTPTypes

extension HTTPField.Name {
    /// `x-request-id`.
    static let requestID = HTTPField.Name("x-request-id")!
    /// `x-api-key`.
    static let apiKey = HTTPField.Name("x-api-key")!
    static let traceParent = HTTPField.Name("traceparent")!
    /// `x-switchyard-deployment`.
    static let switchyardDeployment = HTTPField.Name("x-switchyard-deployment")!
    /// `x-switchyard-attempted-retries`.
    static let attemptedRetries = HTTPField.Name("x-switchyard-attempted-retries")!
    /// `x-switchyard-attempted-fallbacks`.
    static let attemptedFallbacks = HTTPField.Name("x-switchyard-attempted-fallbacks")!
    /// `x-accel-buffering`: tells nginx-like hops not to buffer a stream.
    static let accelBuffering = HTTPField.Name("x-accel-buffering")!
}
