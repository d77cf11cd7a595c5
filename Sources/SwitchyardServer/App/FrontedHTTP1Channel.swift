import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 child channel with a `CompletionFront` placed right after the HTTP/1 decoder, ahead of
/// the conversion to HTTP types: the front reads NIO's request parts and writes its answers as bytes, and only
/// what it passes on is converted for Hummingbird's router.
///
/// The pipeline: response encoder, request decoder, the front, the HTTP-types codec, Hummingbird's connection
/// state handler, and the async channel Hummingbird's `handleHTTP` serves (as `HTTP1Channel` builds it, with the
/// same decoder limits).
struct FrontedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    /// Makes the front of a new connection.
    let makeFront: @Sendable () -> CompletionFront

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            let defaults = HTTP1Channel.Configuration.DecoderConfiguration()
            limits.maxHeaderFieldSize = defaults.maxHeaderFieldSize
            limits.maxHeaderListSize = defaults.maxHeaderListSize
            limits.maxHeaderFieldCount = defaults.maxHeaderFieldCount
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try pipeline.addHandler(makeFront())
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// An HTTP/1.1 server whose connections each get a front from `makeFront` ahead of Hummingbird.
    static func fronted(by makeFront: @escaping @Sendable () -> CompletionFront) -> HTTPServerBuilder {
        .init { responder in FrontedHTTP1Channel(responder: responder, makeFront: makeFront) }
    }
}
