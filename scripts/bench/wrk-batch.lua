-- wrk script: POST /v1/events/batch with 100 NDJSON events per request (ratings, likes, views, poll
-- votes), varied users and items. BENCH_API_KEY is the producer key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
local counter = math.random(1, 1000000)

request = function()
  local lines = {}
  for i = 1, 100 do
    counter = counter + 1
    local user = counter % 50000
    local kind = counter % 4
    if kind == 0 then
      lines[i] = string.format('{"type":"movie.rating","user_id":"u%d","item_id":"m%d","occurred_at":"%s","value":%d.5}', user, counter % 1682, now, counter % 5)
    elseif kind == 1 then
      lines[i] = string.format('{"type":"movie.like","user_id":"u%d","item_id":"m%d","occurred_at":"%s"}', user, counter % 1682, now)
    elseif kind == 2 then
      lines[i] = string.format('{"type":"movie.view","user_id":"u%d","item_id":"m%d","occurred_at":"%s","watch_seconds":%d}', user, counter % 1682, now, counter % 7200)
    else
      lines[i] = string.format('{"type":"poll.vote","user_id":"u%d","poll_id":"p%d","occurred_at":"%s","option_id":"o%d"}', user, counter % 707, now, counter % 4)
    end
  end
  return wrk.format(nil, nil, nil, table.concat(lines, "\n"))
end
