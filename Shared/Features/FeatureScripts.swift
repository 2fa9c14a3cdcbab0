import Redis

/// The Lua scripts that apply events. Each runs atomically in Redis and touches the keys of one hash
/// tag group only (see ``FeatureKeys``), so it stays valid on Redis Cluster.
enum FeatureScripts {
    /// Applies events to their users' state, each together with its event marker.
    ///
    /// KEYS, 5 per event: marker, profile, history, seen, affinity.
    /// ARGV[1..5]: history length, seen limit, rating prior mean, prior strength, idle expiry (s);
    /// then 9 per event: record reference, item, type, weight units (or `R` for a rating),
    /// rating in half-stars, occurred_at ms, marker expiry (unix s), groups joined by \31, event id.
    ///
    /// Returns one string per event: `1|w` applied now with weight w; `2|w` applied earlier *from this
    /// same record* (a replay: downstream effects keyed by offset decide for themselves); `0|` the event
    /// id was applied from another record (a duplicate: no effect anywhere).
    static let applyToUsers = RedisScript(#"""
        local historyLength = tonumber(ARGV[1])
        local seenLimit = tonumber(ARGV[2])
        local priorMean = tonumber(ARGV[3])
        local priorStrength = tonumber(ARGV[4])
        local idleExpiry = tonumber(ARGV[5])
        local out = {}
        local events = #KEYS / 5
        for i = 0, events - 1 do
          local marker, profile, history, seen, affinity = KEYS[i*5+1], KEYS[i*5+2], KEYS[i*5+3], KEYS[i*5+4], KEYS[i*5+5]
          local a = 5 + i*9
          local ref, item, etype, weight = ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4]
          local halfStars, t, markerExpiry, groups, eventID = ARGV[a+5], tonumber(ARGV[a+6]), ARGV[a+7], ARGV[a+8], ARGV[a+9]
          local existing = redis.call('GET', marker)
          if existing then
            local bar = string.find(existing, '|', 1, true)
            if string.sub(existing, 1, bar - 1) == ref then
              out[#out+1] = '2|' .. string.sub(existing, bar + 1)
            else
              out[#out+1] = '0|'
            end
          else
            local units
            if weight == 'R' then
              local sum = tonumber(redis.call('HGET', profile, 'rating_sum') or '0')
              local count = tonumber(redis.call('HGET', profile, 'rating_count') or '0')
              local mean = (sum / 2 + priorMean * priorStrength) / (count + priorStrength)
              units = math.floor((tonumber(halfStars) / 2 - mean) * 10000 + 0.5)
              redis.call('HINCRBY', profile, 'rating_sum', halfStars)
              redis.call('HINCRBY', profile, 'rating_count', 1)
            else
              units = tonumber(weight)
            end
            local w = string.format('%d', units)
            redis.call('ZADD', history, t, ARGV[a+6] .. '|' .. etype .. '|' .. item .. '|' .. w .. '|' .. eventID)
            redis.call('ZREMRANGEBYRANK', history, 0, -(historyLength + 1))
            redis.call('ZADD', seen, 'GT', t, item)
            redis.call('ZREMRANGEBYRANK', seen, 0, -(seenLimit + 1))
            if units ~= 0 then
              for group in string.gmatch(groups, '[^\31]+') do
                if redis.call('HINCRBY', affinity, group, units) == 0 then redis.call('HDEL', affinity, group) end
              end
            end
            local last = tonumber(redis.call('HGET', profile, 'last_active') or '0')
            if t > last then redis.call('HSET', profile, 'last_active', ARGV[a+6]) end
            redis.call('SET', marker, ref .. '|' .. w, 'EXAT', markerExpiry)
            for _, key in ipairs({profile, history, seen, affinity}) do redis.call('EXPIRE', key, idleExpiry) end
            out[#out+1] = '1|' .. w
          end
        end
        return out
        """#)

    /// Adds weight to popularity buckets, exactly once per record offset.
    ///
    /// KEYS[1]: the domain's applied-offsets hash; KEYS[2...]: bucket keys.
    /// ARGV[1]: partition count P; then P × (partition field, expected last offset or '', new last
    /// offset); then one expiry (unix s) per bucket key; then triples (bucket key index into KEYS,
    /// item, weight units).
    ///
    /// If any partition's applied offset is not the expected one (another member applied meanwhile),
    /// nothing is written and the reply is the error `STALE`: the caller re-reads and recomputes.
    /// A member whose score returns to exactly 0 is removed, so a like and a later dislike leave the
    /// same state whether they were applied in one batch or two.
    static let applyToPopularity = RedisScript(#"""
        local partitions = tonumber(ARGV[1])
        local a = 2
        for i = 1, partitions do
          local current = redis.call('HGET', KEYS[1], ARGV[a]) or ''
          if current ~= ARGV[a+1] then return redis.error_reply('STALE ' .. ARGV[a]) end
          a = a + 3
        end
        a = 2
        for i = 1, partitions do
          redis.call('HSET', KEYS[1], ARGV[a], ARGV[a+2])
          a = a + 3
        end
        local buckets = #KEYS - 1
        local firstIncrement = a + buckets
        for i = firstIncrement, #ARGV, 3 do
          local key = KEYS[tonumber(ARGV[i])]
          if tonumber(redis.call('ZINCRBY', key, ARGV[i+2], ARGV[i+1])) == 0 then redis.call('ZREM', key, ARGV[i+1]) end
        end
        for i = 1, buckets do
          redis.call('EXPIREAT', KEYS[i+1], ARGV[a+i-1])
        end
        return partitions
        """#)

    /// Records poll votes, last writer wins by (occurred_at, event id): one vote per user per poll, a
    /// changed vote moves the count, and applying the same votes again or in another order changes
    /// nothing.
    ///
    /// KEYS, 3 per vote: votes, tally, total. ARGV, 4 per vote: user, option, occurred_at ms, event id.
    /// Returns the number of votes that changed the tally.
    static let applyVotes = RedisScript(#"""
        local changed = 0
        for i = 0, #KEYS / 3 - 1 do
          local votes, tally, total = KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]
          local user, option, t, eventID = ARGV[i*4+1], ARGV[i*4+2], tonumber(ARGV[i*4+3]), ARGV[i*4+4]
          local previous = redis.call('HGET', votes, user)
          local wins = true
          local oldOption = nil
          if previous then
            local first = string.find(previous, '|', 1, true)
            local second = string.find(previous, '|', first + 1, true)
            oldOption = string.sub(previous, 1, first - 1)
            local oldTime = tonumber(string.sub(previous, first + 1, second - 1))
            local oldEvent = string.sub(previous, second + 1)
            wins = t > oldTime or (t == oldTime and eventID > oldEvent)
          end
          if wins then
            redis.call('HSET', votes, user, option .. '|' .. ARGV[i*4+3] .. '|' .. eventID)
            if oldOption == nil then
              redis.call('HINCRBY', tally, option, 1)
              redis.call('INCR', total)
              changed = changed + 1
            elseif oldOption ~= option then
              if redis.call('HINCRBY', tally, oldOption, -1) == 0 then redis.call('HDEL', tally, oldOption) end
              redis.call('HINCRBY', tally, option, 1)
              changed = changed + 1
            end
          end
        end
        return changed
        """#)
}
