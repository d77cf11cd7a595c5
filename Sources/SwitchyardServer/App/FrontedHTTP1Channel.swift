import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 child channel with a `CompletionFront` between the socket and the HTTP/1 decoder: the
/// front reads the requests it answers as bytes and writes its answers as bytes, and only what it passes on is
/// decoded and converted for Hummingbird's router.
///
/// The pipeline: response encoder, the front, request decoder, the HTTP-types codec, Hummingbird's connection
/// state handler, and the async channel Hummingbird's `handleHTTP` serves (as `HTTP1Channel` builds it, with the
/// same decoder limits). Hummingbird's answers pass the front on their way to the encoder.
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
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(makeFront(), position: .before(decoder))
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
