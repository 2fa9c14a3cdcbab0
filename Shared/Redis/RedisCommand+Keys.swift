/// Where a command's keys are, for routing it on a cluster. Keys are found by the command's shape, not
/// by asking the server (`COMMAND GETKEYS`): the common data commands take their key first; the few
/// below say otherwise.
extension RedisCommand {
    /// How a cluster routes this command: by the slot of its keys, to any master (no key), or nowhere
    /// (a script whose keys are in several slots: refused before it is sent).
    enum ClusterRouting: Sendable, Equatable {
        case anyMaster
        case slot(Int)
        case crossSlot(String)
    }

    /// Commands without keys (sent to any master).
    private static let keyless: Set<String> = [
        "PING", "ECHO", "INFO", "SCRIPT", "FLUSHALL", "FLUSHDB", "DBSIZE", "CLUSTER", "MULTI", "EXEC", "DISCARD", "ASKING",
        "READONLY", "READWRITE", "AUTH", "SELECT", "HELLO", "CLIENT", "CONFIG", "TIME", "KEYS", "SCAN", "RANDOMKEY", "WAIT",
        "ACL", "COMMAND", "FUNCTION", "SLOWLOG", "LASTSAVE", "SAVE", "BGSAVE", "BGREWRITEAOF", "DEBUG", "ROLE", "LATENCY",
        "PUBLISH", "QUIT", "RESET", "LOLWUT", "SWAPDB", "MODULE", "MONITOR", "SHUTDOWN", "FAILOVER", "REPLICAOF", "SLAVEOF",
    ]
    /// Commands whose argument 1 is the number of keys, and the keys follow it.
    private static let keyCountFirst: Set<String> = ["ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "SINTERCARD", "LMPOP", "ZMPOP"]
    /// Scripts and functions: argument 2 is the number of keys, and the keys follow it.
    private static let scripts: Set<String> = ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"]
    /// Commands whose key is argument 2 (after a subcommand).
    private static let keySecond: Set<String> = ["MEMORY", "OBJECT", "XINFO"]

    var clusterRouting: ClusterRouting {
        let name = self.name.uppercased()
        let argumentCount = lengths.count
        if Self.keyless.contains(name) {
            return .anyMaster
        }
        if Self.scripts.contains(name) {
            // All of a script's keys must share a slot: the script runs on one node, and a node refuses
            // keys it does not serve. Checked here so that the mistake is named before anything is sent.
            guard argumentCount > 2, let keyCount = Int(argumentText(2)), keyCount >= 0, argumentCount >= 3 + keyCount else { return .anyMaster }
            guard keyCount > 0 else { return .anyMaster }
            let first = RedisHashSlot.slot(of: argument(3))
            for index in 4..<(3 + keyCount) {
                let slot = RedisHashSlot.slot(of: argument(index))
                if slot != first {
                    return .crossSlot(
                        "CROSSSLOT \(name)'s keys hash to different slots (key 1 to \(first), key \(index - 2) to \(slot)): on a cluster a script's keys must share one hash tag"
                    )
                }
            }
            return .slot(first)
        }
        if Self.keyCountFirst.contains(name) {
            return argumentCount > 2 ? .slot(RedisHashSlot.slot(of: argument(2))) : .anyMaster
        }
        if Self.keySecond.contains(name) {
            return argumentCount > 2 ? .slot(RedisHashSlot.slot(of: argument(2))) : .anyMaster
        }
        return argumentCount > 1 ? .slot(RedisHashSlot.slot(of: argument(1))) : .anyMaster
    }

    /// Argument `index` (0: the name) as bytes.
    func argument(_ index: Int) -> ArraySlice<UInt8> {
        var offset = 0
        for length in lengths[..<index] { offset += length }
        return storage[offset..<(offset + lengths[index])]
    }

    private func argumentText(_ index: Int) -> String { String(decoding: argument(index), as: UTF8.self) }
}
