import HTTPTypes

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("X-Request-ID")!
}
