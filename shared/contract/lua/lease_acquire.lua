-- Take the scheduler leader lease if nobody holds it, with a new fencing epoch.
-- KEYS[1] = leader key, KEYS[2] = epoch counter.
-- ARGV[1] = replica name, ARGV[2] = lease TTL in ms, ARGV[3] = the highest epoch the
-- caller has seen: when Redis lost its data the counter starts again from nothing, and
-- this keeps epochs (so tokens) increasing anyway.
-- Returns the token "<epoch>:<name>" when acquired, false when another replica leads.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local epoch = redis.call('INCR', KEYS[2])
local seen = tonumber(ARGV[3]) or 0
if epoch <= seen then
  epoch = seen + 1
  redis.call('SET', KEYS[2], epoch)
end
local token = string.format('%d', epoch) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
