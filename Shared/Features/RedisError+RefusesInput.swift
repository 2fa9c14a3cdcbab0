import Redis

extension RedisError {
    /// An error reply that the same command would get again for the same input: a Lua error raised by a
    /// script on an event (`ERR user_script:14: attempt to compare nil with number`, or an error of a
    /// command it called, which Redis suffixes `script: …, on @user_script:N`), a key of the wrong type,
    /// or a user state that cannot be read (`BADSTATE`; `BADVOTE` came from layout v1's vote script). Replies about the server's state (`ERR max number of
    /// clients reached`, `OOM`, `NOPERM`, `READONLY`, `LOADING`, `BUSY`, …) are not: the batch is retried.
    public var refusesInput: Bool {
        guard case .server(let message) = self, let code = serverErrorCode, !isRetriable else { return false }
        switch code {
        case "WRONGTYPE", "BADSTATE", "BADVOTE": return true
        case "ERR": return message.contains("user_script")
        default: return false
        }
    }
}
