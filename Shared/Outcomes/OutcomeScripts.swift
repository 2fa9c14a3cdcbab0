import Redis

/// The outcome writer's one Lua script: a chunk of one domain's impressions and interactions, applied
/// atomically in its `{out:<domain>}` slot, each record at most once by its offset.
enum OutcomeScripts {
    /// KEYS[1]: the domain's applied-offsets hash; every other key the call touches follows, and records and
    /// experiments name them by index (the script builds no key name).
    /// ARGV[1]: attribution window without an id (ms); ARGV[2]: expiry of a user's recent answers (ms);
    /// ARGV[3]: answers kept per user; ARGV[4]: clock skew allowed between an event and an earlier answer
    /// (ms); ARGV[5]: E, then E triples (experiment id, index of its counts hash, index of its users hash):
    /// the experiments whose answers may be credited. Then records:
    /// - `i`, partition field, offset, recent-answers key index, user, recommendation id, served (ms),
    ///   experiment, variant, strategy, N, then N item ids in position order;
    /// - `e`, partition field, offset, recent-answers key index, user, occurred (ms), metric, positive
    ///   `1`/`0`, item, recommendation id or ''.
    ///
    /// A record at or below its partition's applied offset changes nothing (a replay); every other record
    /// moves it, so that a replay never changes what the first pass decided. The partition field carries the
    /// topic's id (`topic/partition@id`): a recreated topic starts afresh. An answer already known (the same
    /// recommendation id written twice) is not counted again; an interaction is credited once per (answer,
    /// item, metric). Without an id, an interaction goes to the user's newest answer that showed the item
    /// within the window ("last impression wins"); with one, to that answer while it is kept.
    ///
    /// Counter fields are `variant US strategy US metric US hour` (US = \31); the per-user counters
    /// (`users`, `users_converted`) use the strategy `*`. The reply: the number of records skipped as
    /// replays, then pairs (`experiment US field`, increment) of what this call counted.
    static let apply = RedisScript(#"""
        local US = '\31'
        local window, ttl, keep, skew = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local experiments = {}
        local a = 6
        for i = 1, tonumber(ARGV[5]) do
          experiments[ARGV[a]] = {counts = KEYS[tonumber(ARGV[a+1])], users = KEYS[tonumber(ARGV[a+2])]}
          a = a + 3
        end
        -- Offsets stay strings when written back: Lua would print a large number with 14 digits.
        local applied, appliedText = {}, {}
        local function fresh(field, offsetText)
          local last = applied[field]
          if last == nil then last = tonumber(redis.call('HGET', KEYS[1], field) or '-1') end
          if tonumber(offsetText) <= last then applied[field] = last return false end
          applied[field] = tonumber(offsetText)
          appliedText[field] = offsetText
          return true
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
        while a <= #ARGV do
          local key = KEYS[tonumber(ARGV[a+3])]
          if ARGV[a] == 'i' then
            local n = tonumber(ARGV[a+10])
            local rec, experiment, variant, strategy = ARGV[a+5], ARGV[a+7], ARGV[a+8], ARGV[a+9]
            if not fresh(ARGV[a+1], ARGV[a+2]) then
              skipped = skipped + 1
            elseif experiments[experiment] and redis.call('HEXISTS', key, 'r:' .. rec) == 0 then
              local entry = {ARGV[a+6], experiment, variant, strategy}
              for i = 1, n do entry[#entry+1] = ARGV[a+10+i] end
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
              local hour = math.floor(tonumber(ARGV[a+6]) / 3600000)
              count(experiment, variant, strategy, 'impressions', hour, 1)
              count(experiment, variant, strategy, 'items_shown', hour, n)
              if redis.call('HSETNX', experiments[experiment].users, ARGV[a+4], variant) == 1 then
                count(experiment, variant, '*', 'users', hour, 1)
              end
            end
            a = a + 11 + n
          else
            if not fresh(ARGV[a+1], ARGV[a+2]) then
              skipped = skipped + 1
            else
              local user, occurred, metric, positive, item, rec = ARGV[a+4], tonumber(ARGV[a+5]), ARGV[a+6], ARGV[a+7], ARGV[a+8], ARGV[a+9]
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
                  local target = experiments[fields[2]]
                  if position and target then
                    local answer = candidates[c]
                    local credits = redis.call('HGET', key, 'c:' .. answer) or US
                    local token = US .. item .. '\30' .. metric .. US
                    if string.find(credits, token, 1, true) == nil then
                      redis.call('HSET', key, 'c:' .. answer, credits .. string.sub(token, 2))
                      local hour = math.floor(occurred / 3600000)
                      count(fields[2], fields[3], fields[4], metric, hour, 1)
                      if positive == '1' then
                        count(fields[2], fields[3], fields[4], 'positives', hour, 1)
                        count(fields[2], fields[3], fields[4], 'position_sum', hour, position)
                        if redis.call('HSETNX', key, 'v:' .. answer, '1') == 1 then
                          count(fields[2], fields[3], fields[4], 'converted', hour, 1)
                          if redis.call('HGET', target.users, user) == fields[3] then
                            redis.call('HSET', target.users, user, fields[3] .. '+')
                            count(fields[2], fields[3], '*', 'users_converted', hour, 1)
                          end
                        end
                      end
                    end
                  end
                  if position then break end
                end
              end
            end
            a = a + 10
          end
        end
        for field, text in pairs(appliedText) do redis.call('HSET', KEYS[1], field, text) end
        local reply = {skipped}
        for _, k in ipairs(order) do
          local at = string.find(k, US, 1, true)
          local experiment, field = string.sub(k, 1, at - 1), string.sub(k, at + 1)
          redis.call('HINCRBY', experiments[experiment].counts, field, deltas[k])
          reply[#reply+1] = k
          reply[#reply+1] = deltas[k]
        end
        return reply
        """#)
}
