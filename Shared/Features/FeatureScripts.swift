import Redis

/// The one Lua script of the feature writer. User state needs none: each user's hash has one writer (the
/// owner of the user's partition), which computes it in memory and writes it with one `HSET`.
enum FeatureScripts {
    /// Adds weight to popularity buckets and moves poll tallies, exactly once per record offset.
    ///
    /// KEYS[1]: the domain's applied-offsets hash; then B bucket keys (sorted sets); then tally keys (hashes).
    /// ARGV[1]: partition count P; then P × (partition field, expected last offset or '', new last
    /// offset); then B; then one expiry (unix s) per bucket key; then G groups of increments, each: K, K
    /// bucket key indices into KEYS, N, and N pairs (item, weight units) added to every one of those K keys;
    /// then triples (tally key index into KEYS, option, change).
    ///
    /// A group is one time quantum: its events fall in the same bucket of every window, so each item is
    /// sent once with the keys it adds to (one per window), not once per key.
    ///
    /// If any partition's applied offset is not the expected one (another member applied meanwhile),
    /// nothing is written and the reply is the error `STALE`: the caller re-reads and recomputes. A key
    /// of the wrong type (nothing of ours writes one; someone else did) is found before anything is
    /// written — a script is not rolled back — and answered `WRONGTYPE keys <index>,<index>… (…)`, every
    /// such key at once, so the caller can set aside the events that touch them. A member whose score or count returns to exactly 0 is
    /// removed, so a like and a later dislike leave the same state whether applied in one batch or two.
    ///
    /// A bucket key's increments cost one `ZMSCORE` and one `ZADD` (and a `ZREM` for members back at 0)
    /// per 1 000 members, not one `ZINCRBY` each: the sums are the same doubles `ZINCRBY` would compute
    /// (Redis prints scores so they read back to the same double: `%.17g` in 7.0, the shortest such string
    /// in 7.2; they are written back with 17 digits), and a group names each item once.
    static let applyToPopularity = RedisScript(#"""
        local partitions = tonumber(ARGV[1])
        local a = 2
        for i = 1, partitions do
          local current = redis.call('HGET', KEYS[1], ARGV[a]) or ''
          if current ~= ARGV[a+1] then return redis.error_reply('STALE ' .. ARGV[a]) end
          a = a + 3
        end
        local buckets = tonumber(ARGV[a])
        local wrong, example = {}, nil
        for i = 2, #KEYS do
          local kind = redis.call('TYPE', KEYS[i]).ok
          local wanted = i <= buckets + 1 and 'zset' or 'hash'
          if kind ~= wanted and kind ~= 'none' then
            wrong[#wrong+1] = i
            example = example or (KEYS[i] .. ' holds a ' .. kind .. ', not a ' .. wanted)
          end
        end
        if #wrong > 0 then return redis.error_reply('WRONGTYPE keys ' .. table.concat(wrong, ',') .. ' (' .. example .. ')') end
        a = 2
        for i = 1, partitions do
          redis.call('HSET', KEYS[1], ARGV[a], ARGV[a+2])
          a = a + 3
        end
        a = a + 1
        local expiries = a
        a = a + buckets
        local groups = tonumber(ARGV[a])
        a = a + 1
        for g = 1, groups do
          local keyCount = tonumber(ARGV[a])
          local groupKeys = {}
          for k = 1, keyCount do
            groupKeys[k] = KEYS[tonumber(ARGV[a+k])]
            -- A bad index would shift every argument after it: refuse the call rather than misread it.
            if groupKeys[k] == nil then return redis.error_reply('ERR no bucket key at index ' .. ARGV[a+k]) end
          end
          a = a + keyCount + 1
          local count = tonumber(ARGV[a])
          a = a + 1
          local members, units = {}, {}
          for j = 1, count do
            members[j] = ARGV[a]
            units[j] = tonumber(ARGV[a+1])
            a = a + 2
          end
          for _, key in ipairs(groupKeys) do
            for first = 1, #members, 1000 do
              local last = math.min(first + 999, #members)
              local scores = redis.call('ZMSCORE', key, unpack(members, first, last))
              local add, remove = {}, {}
              for j = first, last do
                local score = (tonumber(scores[j - first + 1]) or 0) + units[j]
                if score == 0 then
                  remove[#remove+1] = members[j]
                else
                  add[#add+1] = string.format('%.17g', score)
                  add[#add+1] = members[j]
                end
              end
              if #add > 0 then redis.call('ZADD', key, unpack(add)) end
              if #remove > 0 then redis.call('ZREM', key, unpack(remove)) end
            end
          end
        end
        for i = a, #ARGV, 3 do
          local key = KEYS[tonumber(ARGV[i])]
          if redis.call('HINCRBY', key, ARGV[i+1], ARGV[i+2]) == 0 then redis.call('HDEL', key, ARGV[i+1]) end
        end
        for i = 1, buckets do
          redis.call('EXPIREAT', KEYS[i+1], ARGV[expiries+i-1])
        end
        return partitions
        """#)
}
