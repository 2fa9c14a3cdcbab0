import ClientRuntime

/// Runs blocking set-up (openssl, initdb, starting a server and waiting for it) on a thread of its own.
/// Run on the cooperative pool — two threads on this machine — it stalls every other test's timers and
/// continuations meanwhile: a 200 ms command timeout was seen to fire after 11.5 s in a full run.
public func offThePool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await onDedicatedThread { Result(catching: work) }.get()
}
