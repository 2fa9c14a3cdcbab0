-- wrk script: GET /v1/users/{id}/recommendations?domain=movies&k=20 for a mix of users: 50 % known to the
-- MovieLens model (ids 1..943, with fresh events in Redis: personalised), 20 % new users with events in
-- Redis (new-1..new-943: fold-in), 30 % anonymous (popular). BENCH_DELAY_MS paces each connection.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
math.randomseed(os.time())
request = function()
  local draw = math.random()
  local user
  if draw < 0.5 then user = tostring(math.random(1, 943))
  elseif draw < 0.7 then user = "new-" .. math.random(1, 943)
  else user = "visitor-" .. math.random(1, 100000) end
  return wrk.format("GET", "/v1/users/" .. user .. "/recommendations?domain=movies&k=20")
end
if delay_ms > 0 then
  delay = function() return delay_ms end
end
