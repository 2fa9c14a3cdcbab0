import Logging
import NIOCore
import Synchronization

/// The cluster mode of ``RedisClient``: learns which master serves each hash slot (`CLUSTER SLOTS`), sends
/// each command, transaction and script to its slot's master, and follows the cluster's redirections.
///
/// Each master gets a client of its own (``RedisClient`` in standalone mode, with the configured I/O model:
/// lanes on threads of their own, or one connection per event loop), so everything the standalone client
/// does — automatic pipelining, reconnection with backoff, timeouts — holds per node. This type only routes
/// and never blocks: it runs on whatever task calls it.
///
/// - A pipeline is split into units (a command, or a `MULTI` … `EXEC` block), the units grouped by master,
///   one pipeline per master sent at once, and the replies put back in the caller's order. Commands to one
///   master keep their order; commands to different masters have no order between them (on a cluster
///   they touch different keys).
/// - `MOVED slot host:port`: the slot has a new owner for good. The unit is sent there, and the slot map
///   is read again for the commands that follow.
/// - `ASK slot host:port`: the slot is being migrated and this key is already on the target. The unit is
///   sent there preceded by `ASKING`, once; the map is not changed (the source still owns the slot).
/// - `TRYAGAIN`: a multi-key command or script during a migration whose keys are split between source
///   and target. Sent again after a short pause, a few times; then the error is the reply.
/// - A connection that fails to a master makes the map be read again; units that were not sent
///   (connect failed) are routed again with it, a lost connection's outcome is unknown and thrown.
final class RedisCluster: Sendable {
    /// Redirections and retries followed for one unit before its last error reply is returned as is.
    static let maximumRounds = 12

    private let seed: RedisNodeAddress
    private let configuration: RedisConfiguration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup

    private struct State {
        var map: RedisSlotMap?
        var nodes: [RedisNodeAddress: RedisClient] = [:]
        var refreshing: Task<RedisSlotMap, any Error>?
        var isShutDown = false
        var counts = RedisRedirectionCounts()
    }
    private let state = Mutex(State())

    var redirectionCounts: RedisRedirectionCounts { state.withLock { $0.counts } }

    init(configuration: RedisConfiguration, logger: Logger, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        seed = RedisNodeAddress(host: configuration.host, port: configuration.port)
    }

    // MARK: - Nodes and the slot map

    /// The standalone client of one node, made on first use.
    func node(_ address: RedisNodeAddress) throws(RedisError) -> RedisClient {
        let result = state.withLock { state -> RedisClient? in
            guard !state.isShutDown else { return nil }
            if let client = state.nodes[address] { return client }
            var nodeConfiguration = configuration
            nodeConfiguration.host = address.host
            nodeConfiguration.port = address.port
            nodeConfiguration.cluster = false
            let client = RedisClient(configuration: nodeConfiguration, logger: logger, eventLoopGroup: eventLoopGroup)
            state.nodes[address] = client
            return client
        }
        guard let result else { throw .shutDown }
        return result
    }

    /// The slot map, read first if not known yet.
    func slotMap() async throws(RedisError) -> RedisSlotMap {
        if let map = state.withLock({ $0.map }) { return map }
        return try await refreshSlotMap()
    }

    /// Reads the slot map again (one read at a time: callers arriving meanwhile share it).
    @discardableResult
    func refreshSlotMap() async throws(RedisError) -> RedisSlotMap {
        let task = state.withLock { state -> Task<RedisSlotMap, any Error> in
            if let running = state.refreshing { return running }
            let task = Task { try await self.readSlotMap() }
            state.refreshing = task
            return task
        }
        do {
            return try await task.value
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionFailed("\(error)")
        }
    }

    /// Asks the known masters, then the seed, for `CLUSTER SLOTS`; the first answer wins.
    private func readSlotMap() async throws -> RedisSlotMap {
        defer { state.withLock { $0.refreshing = nil } }
        let known = state.withLock { $0.map?.masters ?? [] }
        var candidates = known
        if !candidates.contains(seed) { candidates.append(seed) }
        var lastError = RedisError.connectionFailed("no cluster node answered CLUSTER SLOTS")
        for candidate in candidates {
            do {
                let reply = try await node(candidate).send(RedisCommand("CLUSTER", "SLOTS"))
                let map = try RedisSlotMap(clusterSlots: reply, defaultHost: seed.host)
                state.withLock {
                    $0.map = map
                    $0.counts.slotMapReads += 1
                }
                logger.debug("redis cluster slot map read", metadata: ["from": "\(candidate)", "masters": "\(map.masters)"])
                return map
            } catch {
                lastError = error
                if !error.isRetriable { throw error }  // e.g. "ERR This instance has cluster support disabled"
            }
        }
        throw lastError
    }

    func masters() async throws(RedisError) -> [RedisNodeAddress] { try await slotMap().masters }

    // MARK: - Routing

    /// Commands sent to one master together: one unit is one command, or a transaction block, or (for a
    /// script's reload) commands that must go to the same node.
    private struct Unit {
        let range: Range<Int>
        let isTransaction: Bool
        let routing: RedisCommand.ClusterRouting
        /// Where a redirection sent it (instead of the slot map's choice), and whether with `ASKING`.
        var redirectedTo: RedisNodeAddress?
        var asking = false
    }

    private struct Destination: Hashable {
        let node: RedisNodeAddress
        let asking: Bool
    }

    /// Routes `commands` and returns their replies in order (error replies as values, as a pipeline does).
    /// `asOneUnit`: every command goes to the node of the first one with a key, together.
    /// `minimumPart`: each node's share goes through ``RedisClient/pipelineAcrossConnections(_:minimumPart:)``.
    func execute(_ commands: [RedisCommand], asOneUnit: Bool = false, minimumPart: Int? = nil) async throws(RedisError) -> [RedisValue] {
        var replies = [RedisValue](repeating: .null, count: commands.count)
        var pending = Self.units(of: commands, asOneUnit: asOneUnit)
        // A script whose keys are in several slots is refused here; the rest is sent.
        pending.removeAll { unit in
            for index in unit.range {
                if case .crossSlot(let message) = commands[index].clusterRouting {
                    for index in unit.range { replies[index] = .error(message) }
                    return true
                }
            }
            return false
        }
        var map = try await slotMap()
        var round = 0
        while !pending.isEmpty {
            round += 1
            // Group by destination, keeping the caller's order within each.
            var groups: [Destination: [Int]] = [:]
            var order: [Destination] = []
            var unrouted: [Int] = []
            for (unitIndex, unit) in pending.enumerated() {
                let node: RedisNodeAddress?
                if let redirected = unit.redirectedTo {
                    node = redirected
                } else {
                    switch unit.routing {
                    case .slot(let slot): node = map.master(of: slot)
                    case .anyMaster, .crossSlot: node = map.masters.first
                    }
                }
                guard let node else {
                    unrouted.append(unitIndex)
                    continue
                }
                let destination = Destination(node: node, asking: unit.asking)
                if groups[destination] == nil { order.append(destination) }
                groups[destination, default: []].append(unitIndex)
            }
            for unitIndex in unrouted {
                for index in pending[unitIndex].range { replies[index] = .error("CLUSTERDOWN Hash slot not served (by the client's slot map)") }
            }

            let results = await send(groups: groups, order: order, units: pending, commands: commands, minimumPart: minimumPart)

            var next: [Unit] = []
            var counts = RedisRedirectionCounts()
            var mapIsStale = !unrouted.isEmpty
            var pause = false
            var failure: RedisError?
            for (destination, result) in results {
                let unitIndexes = groups[destination]!
                switch result {
                case .failure(let error):
                    mapIsStale = true
                    if case .connectionFailed = error, round < Self.maximumRounds {
                        // Nothing was sent: route these units again with a fresh map.
                        for unitIndex in unitIndexes {
                            var unit = pending[unitIndex]
                            unit.redirectedTo = nil
                            unit.asking = false
                            next.append(unit)
                        }
                        pause = true
                    } else if failure == nil {
                        failure = error
                    }
                case .success(let unitReplies):
                    for (position, unitIndex) in unitIndexes.enumerated() {
                        var unit = pending[unitIndex]
                        let values = unitReplies[position]
                        switch Self.redirection(in: values, defaultHost: seed.host) {
                        case .some(.moved(let target)) where round < Self.maximumRounds:
                            mapIsStale = true
                            unit.redirectedTo = target
                            unit.asking = false
                            next.append(unit)
                            counts.moved += 1
                        case .some(.ask(let target)) where round < Self.maximumRounds:
                            unit.redirectedTo = target
                            unit.asking = true
                            next.append(unit)
                            counts.ask += 1
                        case .some(.tryAgain) where round < Self.maximumRounds:
                            pause = true
                            next.append(unit)
                            counts.tryAgain += 1
                        default:
                            for (offset, index) in unit.range.enumerated() { replies[index] = values[offset] }
                        }
                    }
                }
            }
            if counts != RedisRedirectionCounts() {
                state.withLock {
                    $0.counts.moved += counts.moved
                    $0.counts.ask += counts.ask
                    $0.counts.tryAgain += counts.tryAgain
                }
            }
            if mapIsStale {
                do {
                    map = try await refreshSlotMap()
                } catch {
                    if failure == nil, !next.isEmpty { failure = error }
                }
            }
            if let failure { throw failure }
            if pause, !next.isEmpty {
                // A migration's keys are moving (TRYAGAIN) or a node is unreachable: give it a moment.
                try? await Task.sleep(for: .milliseconds(min(5 << min(round, 6), 250)))
            }
            pending = next
        }
        return replies
    }

    /// Sends each destination's units in one pipeline, all destinations at once. Returns, per destination,
    /// the replies of each of its units (in the order of `groups[destination]`), or the error.
    private func send(
        groups: [Destination: [Int]], order: [Destination], units: [Unit], commands: [RedisCommand], minimumPart: Int?
    ) async -> [(Destination, Result<[[RedisValue]], RedisError>)] {
        await withTaskGroup(of: (Destination, Result<[[RedisValue]], RedisError>).self) { group in
            for destination in order {
                let unitIndexes = groups[destination]!
                // The node's commands; under ASK each command (or the transaction as a whole: the flag lasts
                // until EXEC) gets its `ASKING`, whose reply is dropped.
                var batch: [RedisCommand] = []
                var kept: [[Int]] = []
                for unitIndex in unitIndexes {
                    let unit = units[unitIndex]
                    var positions: [Int] = []
                    if destination.asking && unit.isTransaction { batch.append(RedisCommand("ASKING")) }
                    for index in unit.range {
                        if destination.asking && !unit.isTransaction { batch.append(RedisCommand("ASKING")) }
                        positions.append(batch.count)
                        batch.append(commands[index])
                    }
                    kept.append(positions)
                }
                group.addTask {
                    do throws(RedisError) {
                        let client = try self.node(destination.node)
                        let replies: [RedisValue]
                        if let minimumPart, !destination.asking {
                            replies = try await client.pipelineAcrossConnections(batch, minimumPart: minimumPart)
                        } else {
                            replies = try await client.pipeline(batch)
                        }
                        return (destination, .success(kept.map { positions in positions.map { replies[$0] } }))
                    } catch {
                        return (destination, .failure(error))
                    }
                }
            }
            var results: [(Destination, Result<[[RedisValue]], RedisError>)] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    private enum Redirection {
        case moved(RedisNodeAddress)
        case ask(RedisNodeAddress)
        case tryAgain
    }

    /// The first redirection among a unit's replies (in a transaction, the queued command's error; `EXEC`
    /// then answers `EXECABORT` and nothing ran).
    private static func redirection(in values: [RedisValue], defaultHost: String) -> Redirection? {
        for value in values {
            guard case .error(let message) = value else { continue }
            if message.hasPrefix("MOVED ") || message.hasPrefix("ASK ") {
                let parts = message.split(separator: " ")
                guard parts.count == 3, let target = RedisNodeAddress(parsing: parts[2], defaultHost: defaultHost) else { continue }
                return parts[0] == "MOVED" ? .moved(target) : .ask(target)
            }
            if message.hasPrefix("TRYAGAIN") { return .tryAgain }
        }
        return nil
    }

    /// Splits commands into units: each command alone, except `MULTI` … `EXEC`/`DISCARD`, which stays whole
    /// and is routed by its first keyed command.
    private static func units(of commands: [RedisCommand], asOneUnit: Bool) -> [Unit] {
        func routing(_ range: Range<Int>) -> RedisCommand.ClusterRouting {
            var found = RedisCommand.ClusterRouting.anyMaster
            for index in range {
                let routing = commands[index].clusterRouting
                if case .crossSlot = routing { return routing }
                if case .slot = routing, case .anyMaster = found { found = routing }
            }
            return found
        }
        if asOneUnit { return [Unit(range: 0..<commands.count, isTransaction: false, routing: routing(0..<commands.count))] }
        var units: [Unit] = []
        var index = 0
        while index < commands.count {
            if commands[index].name.uppercased() == "MULTI" {
                var end = index + 1
                while end < commands.count {
                    let name = commands[end].name.uppercased()
                    end += 1
                    if name == "EXEC" || name == "DISCARD" { break }
                }
                units.append(Unit(range: index..<end, isTransaction: true, routing: routing(index..<end)))
                index = end
            } else {
                units.append(Unit(range: index..<(index + 1), isTransaction: false, routing: routing(index..<(index + 1))))
                index += 1
            }
        }
        return units
    }

    // MARK: - Scripts, every master, lifecycle

    /// `EVALSHA` on the master of the script's keys (all in one slot, else refused); on `NOSCRIPT` the
    /// script is loaded on that master and run, in one pipeline that follows redirections together.
    func evaluate(_ script: RedisScript, sha: String, evalsha: RedisCommand) async throws(RedisError) -> RedisValue {
        var reply = try await execute([evalsha])[0]
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            logger.debug("redis script not on this cluster node yet; loading it there", metadata: ["sha": "\(sha)"])
            reply = try await execute([RedisCommand("SCRIPT", "LOAD", script.source), evalsha], asOneUnit: true)[1]
        }
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// Sends `command` to every master (`FLUSHALL`, `SCRIPT FLUSH`, `DBSIZE`, …); replies in the order of
    /// ``masters()``, error replies as values.
    func sendToEveryMaster(_ command: RedisCommand) async throws(RedisError) -> [RedisValue] {
        var replies: [RedisValue] = []
        for master in try await masters() { replies.append(try await node(master).pipeline([command])[0]) }
        return replies
    }

    var openConnections: Int { state.withLock { Array($0.nodes.values) }.reduce(0) { $0 + $1.openConnections } }

    func shutdown() async {
        let nodes = state.withLock { state -> [RedisClient] in
            state.isShutDown = true
            defer { state.nodes.removeAll() }
            return Array(state.nodes.values)
        }
        for node in nodes { await node.shutdown() }
    }
}
