-- Remove the run leases that expired on Redis' clock (the one they are written on) from
-- each lease zset in KEYS (running:<task>, window_running:<window>): member = run id,
-- score = expiry in ms. A missing key costs next to nothing.
-- Returns how many leases went.
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local removed = 0
for _, key in ipairs(KEYS) do
  removed = removed + redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
end
return removed
