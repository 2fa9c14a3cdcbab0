import Redis

/// The Lua scripts that apply events. Each runs atomically in Redis. With `features.redis_topology =
/// cluster` each call touches the keys of one hash tag group only (see ``FeatureKeys``: event markers then
/// carry the user's tag); on a standalone server the user script also touches event markers keyed by id.
enum FeatureScripts {
    /// Applies events to their users' state, each together with its event marker.
    ///
    /// KEYS, 4 per event: marker, profile, history, seen.
    /// ARGV[1..5]: history length, seen limit, rating prior mean, prior strength, idle expiry (s);
    /// then 9 per event: record reference, item, type, weight units (or `R` for a rating),
    /// rating in half-stars, occurred_at ms, marker expiry (unix s), groups joined by \31, event id.
    ///
    /// Returns one string per event: `1|w` applied now with weight w; `2|w` applied earlier *from this
    /// same record* (a replay: downstream effects keyed by offset decide for themselves); `0|` the event
    /// id was applied from another record (a duplicate: no effect anywhere).
    ///
    /// Commands per event are what bounds throughput (Redis runs them on one core), so the marker is
    /// checked and set in one `SET NX GET`, and affinities live in the profile hash.
    static let applyToUsers = RedisScript(#"""
        local historyLength = tonumber(ARGV[1])
        local seenLimit = tonumber(ARGV[2])
        local priorMean = tonumber(ARGV[3])
        local priorStrength = tonumber(ARGV[4])
        local idleExpiry = tonumber(ARGV[5])
        local out = {}
        for i = 0, #KEYS / 4 - 1 do
          local marker, profile, history, seen = KEYS[i*4+1], KEYS[i*4+2], KEYS[i*4+3], KEYS[i*4+4]
          local a = 5 + i*9
          local ref, item, etype, weight = ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4]
          local halfStars, time, markerExpiry, groups, eventID = ARGV[a+5], ARGV[a+6], ARGV[a+7], ARGV[a+8], ARGV[a+9]
          -- The weight first (reads only): the marker records it.
          local units
          if weight == 'R' then
            local stats = redis.call('HMGET', profile, 'rating_sum', 'rating_count')
            local sum, count = tonumber(stats[1] or '0'), tonumber(stats[2] or '0')
            local mean = (sum / 2 + priorMean * priorStrength) / (count + priorStrength)
            units = math.floor((tonumber(halfStars) / 2 - mean) * 10000 + 0.5)
          else
            units = tonumber(weight)
          end
          local w = string.format('%d', units)
          local existing = redis.call('SET', marker, ref .. '|' .. w, 'NX', 'GET', 'EXAT', markerExpiry)
          if existing then
            local bar = string.find(existing, '|', 1, true)
            if string.sub(existing, 1, bar - 1) == ref then
              out[#out+1] = '2|' .. string.sub(existing, bar + 1)
            else
              out[#out+1] = '0|'
            end
          else
            -- If a write fails (a key of the wrong type), the marker goes again and the error is returned:
            -- a marker left behind would make the split-up retry call this event a replay, count its
            -- popularity and never dead-letter it. (Writes before the failing one stay: no rollback.)
            local applied, failure = pcall(function()
              if weight == 'R' then
                redis.call('HINCRBY', profile, 'rating_sum', halfStars)
                redis.call('HINCRBY', profile, 'rating_count', 1)
              end
              redis.call('ZADD', history, time, time .. '|' .. etype .. '|' .. item .. '|' .. w .. '|' .. eventID)
              redis.call('ZREMRANGEBYRANK', history, 0, -(historyLength + 1))
              redis.call('ZADD', seen, 'GT', time, item)
              redis.call('ZREMRANGEBYRANK', seen, 0, -(seenLimit + 1))
              if units ~= 0 then
                local domain = string.match(etype, '^[^.]+')
                for group in string.gmatch(groups, '[^\31]+') do
                  local field = 'affinity:' .. domain .. ':' .. group
                  if redis.call('HINCRBY', profile, field, units) == 0 then redis.call('HDEL', profile, field) end
                end
              end
              redis.call('EXPIRE', profile, idleExpiry)
              redis.call('EXPIRE', history, idleExpiry)
              redis.call('EXPIRE', seen, idleExpiry)
            end)
            if not applied then
              redis.call('DEL', marker)
              local message = type(failure) == 'table' and (failure.err or 'failed') or tostring(failure)
              -- Keep the command's error code (WRONGTYPE, OOM, …): it says whether the event is at fault.
              if not string.match(message, '^%u+ ') then message = 'ERR user_script: ' .. message end
              return redis.error_reply(message)
            end
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
    /// A vote is stored as `time|event id|option`. The time is digits and the event id a UUID, so the
    /// option comes last and may hold any character the event contract allows, `|` included (it was
    /// stored first once and parsed from the left: an option `a|b` then broke the parse and halted the
    /// processor). Values in that older `option|time|event id` layout are still read, from the right.
    ///
    /// KEYS, 3 per vote: votes, tally, total. ARGV, 4 per vote: user, option, occurred_at ms, event id.
    /// Returns the number of votes that changed the tally.
    static let applyVotes = RedisScript(#"""
        local function storedVote(value)
          local t, id, option = string.match(value, '^(%-?%d+)|(%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x)|(.*)$')
          if t == nil then option, t, id = string.match(value, '^(.*)|(%-?%d+)|([^|]*)$') end
          if t == nil then return redis.error_reply('BADVOTE unreadable stored vote: ' .. value) end
          return option, tonumber(t), id
        end
        local changed = 0
        for i = 0, #KEYS / 3 - 1 do
          local votes, tally, total = KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]
          local user, option, t, eventID = ARGV[i*4+1], ARGV[i*4+2], tonumber(ARGV[i*4+3]), ARGV[i*4+4]
          local previous = redis.call('HGET', votes, user)
          local wins = true
          local oldOption = nil
          if previous then
            local oldTime, oldEvent
            oldOption, oldTime, oldEvent = storedVote(previous)
            if type(oldOption) == 'table' then return oldOption end
            wins = t > oldTime or (t == oldTime and eventID > oldEvent)
          end
          if wins then
            redis.call('HSET', votes, user, ARGV[i*4+3] .. '|' .. eventID .. '|' .. option)
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
