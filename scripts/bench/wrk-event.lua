-- wrk script: one movie.like per POST /v1/events, varied users and items, no event_id (the gateway
-- assigns one). BENCH_API_KEY is the producer key; BENCH_DELAY_MS paces each connection (0 = flat out).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local counter = math.random(1, 1000000)

request = function()
  counter = counter + 1
  local body = string.format(
    '{"type":"movie.like","user_id":"u%d","item_id":"m%d","occurred_at":"%s","context":{"device":"web"}}',
    counter % 50000, counter % 1682, now)
  return wrk.format(nil, nil, nil, body)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
