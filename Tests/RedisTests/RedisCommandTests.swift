import Redis
import Testing

@Suite struct RedisCommandTests {
    @Test func integersAreWrittenInDecimal() {
        let values: [Int64] = [0, 7, 9, 10, 42, 99, 100, -1, -10, -987_654_321, 1_796_677_552_123, .max, .min]
        var command = RedisCommand("SET")
        for value in values { command.append(value) }
        command.append(Int(-12))
        let written = command.arguments.dropFirst().map { String(decoding: $0, as: UTF8.self) }
        #expect(written == values.map { String($0) } + ["-12"])
    }

    @Test func anArgumentWrittenInPartsIsOneArgument() {
        var command = RedisCommand("HSET", "key")
        command.appendArgument { buffer in
            buffer.append(contentsOf: "s:".utf8)
            buffer.append(contentsOf: "item\r\n$3".utf8)
        }
        command.appendArgument { buffer in Int64(-5).appendRedisArgument(to: &buffer) }
        command.appendArgument { _ in }
        #expect(command.arguments.map { String(decoding: $0, as: UTF8.self) } == ["HSET", "key", "s:item\r\n$3", "-5", ""])
        var wire: [UInt8] = []
        command.encodeRESP(into: &wire)
        #expect(String(decoding: wire, as: UTF8.self) == "*5\r\n$4\r\nHSET\r\n$3\r\nkey\r\n$10\r\ns:item\r\n$3\r\n$2\r\n-5\r\n$0\r\n\r\n")
    }
}
