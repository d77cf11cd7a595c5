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

extension UnsafeRawBufferPointer {
    /// Whether these bytes, lower-cased (ASCII), are `lowercase`: header names matched without making strings.
    func equalsLowercased(_ lowercase: [UInt8]) -> Bool {
        guard count == lowercase.count else { return false }
        for index in 0..<lowercase.count {
            let byte = self[index]
            guard (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == lowercase[index] else { return false }
        }
        return true
    }
}
