import Redis

/// The outcome writer's one Lua script: a chunk of one domain's impressions and interactions, applied
/// atomically in its `{out:<domain>}` slot, each record at most once by its offset.
enum OutcomeScripts {
    /// KEYS[1]: the domain's applied-offsets hash.
    /// ARGV[1]: recent-answers key prefix (the user id follows); ARGV[2]: counts key prefix (the experiment id
    /// follows); ARGV[3]: attribution window without an id (ms); ARGV[4]: expiry of a user's recent answers
    /// (ms); ARGV[5]: answers kept per user; ARGV[6]: clock skew allowed between an event and an earlier
    /// answer (ms). Then records:
    /// - `i`, partition field, offset, user, recommendation id, served (ms), experiment, variant, strategy,
    ///   N, then N item ids in position order;
    /// - `e`, partition field, offset, user, occurred (ms), metric, positive `1`/`0`, item, recommendation
    ///   id or ''.
    ///
    /// A record at or below its partition's applied offset changes nothing (a replay). An answer already
    /// known (the same recommendation id written twice) is not counted again; an interaction is credited
    /// once per (answer, item, metric). Without an id, an interaction goes to the user's newest answer that
    /// showed the item within the window ("last impression wins"); with one, to that answer while it is kept.
    ///
    /// Counter fields are `variant US strategy US metric US hour` (US = \31), incremented in the experiment's
    /// counts hash. The reply: the number of records skipped as replays, then pairs (`experiment US field`,
    /// increment) of what this call counted, for the processor's Prometheus counters.
    static let apply = RedisScript(#"""
        local US = '\31'
        local window, ttl, keep, skew = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        -- Offsets stay strings when written back: Lua would print a large number with 14 digits.
        local applied, appliedText = {}, {}
        local function fresh(field, offsetText)
          local last = applied[field]
          if last == nil then last = tonumber(redis.call('HGET', KEYS[1], field) or '-1') applied[field] = last end
          return tonumber(offsetText) > last
        end
        -- Only a record that changed something moves its partition's offset: one that changed nothing
        -- changes nothing when replayed either, and with no experiment running nothing is written at all.
        local function changed(field, offsetText)
          applied[field] = tonumber(offsetText)
          appliedText[field] = offsetText
        end
        local deltas, order = {}, {}
        local function count(experiment, variant, strategy, metric, hour, n)
          local k = experiment .. US .. variant .. US .. strategy .. US .. metric .. US .. hour
          if deltas[k] == nil then deltas[k] = 0 order[#order+1] = k end
          deltas[k] = deltas[k] + n
        end
        local function split(text, separator)
          local parts, start = {}, 1
          while true do
            local at = string.find(text, separator, start, true)
            if at == nil then parts[#parts+1] = string.sub(text, start) return parts end
            parts[#parts+1] = string.sub(text, start, at - 1)
            start = at + 1
          end
        end
        local skipped = 0
        local a = 7
        while a <= #ARGV do
          if ARGV[a] == 'i' then
            local n = tonumber(ARGV[a+9])
            if fresh(ARGV[a+1], ARGV[a+2]) then
              local key = ARGV[1] .. ARGV[a+3]
              local rec = ARGV[a+4]
              if redis.call('HEXISTS', key, 'r:' .. rec) == 0 then
                local entry = {ARGV[a+5], ARGV[a+6], ARGV[a+7], ARGV[a+8]}
                for i = 1, n do entry[#entry+1] = ARGV[a+9+i] end
                changed(ARGV[a+1], ARGV[a+2])
                redis.call('HSET', key, 'r:' .. rec, table.concat(entry, US))
                local answers = redis.call('HGET', key, 'order')
                answers = answers and split(answers, ',') or {}
                answers[#answers+1] = rec
                while #answers > keep do
                  local gone = table.remove(answers, 1)
                  redis.call('HDEL', key, 'r:' .. gone, 'c:' .. gone, 'v:' .. gone)
                end
                redis.call('HSET', key, 'order', table.concat(answers, ','))
                redis.call('PEXPIRE', key, ttl)
                local hour = math.floor(tonumber(ARGV[a+5]) / 3600000)
                count(ARGV[a+6], ARGV[a+7], ARGV[a+8], 'impressions', hour, 1)
                count(ARGV[a+6], ARGV[a+7], ARGV[a+8], 'items_shown', hour, n)
              end
            else
              skipped = skipped + 1
            end
            a = a + 10 + n
          else
            if fresh(ARGV[a+1], ARGV[a+2]) then
              local key = ARGV[1] .. ARGV[a+3]
              local occurred, metric, positive, item, rec = tonumber(ARGV[a+4]), ARGV[a+5], ARGV[a+6], ARGV[a+7], ARGV[a+8]
              local candidates
              if rec ~= '' then
                candidates = {rec}
              else
                local answers = redis.call('HGET', key, 'order')
                candidates = answers and split(answers, ',') or {}
              end
              for c = #candidates, 1, -1 do
                local entry = redis.call('HGET', key, 'r:' .. candidates[c])
                if entry then
                  local fields = split(entry, US)
                  local served = tonumber(fields[1])
                  local inWindow = rec ~= '' or (occurred - served <= window and served - occurred <= skew)
                  local position = nil
                  if inWindow then
                    for p = 5, #fields do
                      if fields[p] == item then position = p - 4 break end
                    end
                  end
                  if position then
                    local answer = candidates[c]
                    local credits = redis.call('HGET', key, 'c:' .. answer) or US
                    local token = US .. item .. '\30' .. metric .. US
                    if string.find(credits, token, 1, true) == nil then
                      changed(ARGV[a+1], ARGV[a+2])
                      redis.call('HSET', key, 'c:' .. answer, credits .. string.sub(token, 2))
                      local hour = math.floor(occurred / 3600000)
                      count(fields[2], fields[3], fields[4], metric, hour, 1)
                      if positive == '1' then
                        count(fields[2], fields[3], fields[4], 'positives', hour, 1)
                        count(fields[2], fields[3], fields[4], 'position_sum', hour, position)
                        if redis.call('HSETNX', key, 'v:' .. answer, '1') == 1 then
                          count(fields[2], fields[3], fields[4], 'converted', hour, 1)
                        end
                      end
                    end
                    break
                  end
                end
              end
            else
              skipped = skipped + 1
            end
            a = a + 9
          end
        end
        for field, text in pairs(appliedText) do redis.call('HSET', KEYS[1], field, text) end
        local reply = {skipped}
        for _, k in ipairs(order) do
          local at = string.find(k, US, 1, true)
          local experiment, field = string.sub(k, 1, at - 1), string.sub(k, at + 1)
          redis.call('HINCRBY', ARGV[2] .. experiment, field, deltas[k])
          reply[#reply+1] = k
          reply[#reply+1] = deltas[k]
        end
        return reply
        """#)
}
