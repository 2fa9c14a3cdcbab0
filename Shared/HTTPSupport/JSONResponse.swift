import Events
import HTTPTypes
import Hummingbird
import NIOCore

/// Small helpers to answer with JSON written by ``JSONWriter`` (no Codable on the hot path).
public enum JSONResponse {
    public static func encode(_ value: JSONValue) -> [UInt8] {
        JSONWriter.encode(value, capacity: 4096)
    }

    public static func make(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        make(status, encoded: encode(value), headers: headers)
    }

    /// A response whose JSON body is already encoded.
    public static func make(_ status: HTTPResponse.Status, encoded body: [UInt8], headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
