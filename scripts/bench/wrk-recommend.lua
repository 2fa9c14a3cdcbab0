-- wrk script: GET /v1/users/{id}/recommendations?domain=movies&k=20 for a mix of users: 70 % known to the
-- MovieLens model (ids 1..943: personalised), 30 % unknown (popular). BENCH_DELAY_MS paces each connection.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
math.randomseed(os.time())
request = function()
  local user
  if math.random() < 0.7 then user = tostring(math.random(1, 943)) else user = "visitor-" .. math.random(1, 100000) end
  return wrk.format("GET", "/v1/users/" .. user .. "/recommendations?domain=movies&k=20")
end
if delay_ms > 0 then
  delay = function() return delay_ms end
end
