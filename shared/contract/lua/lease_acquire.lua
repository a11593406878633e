-- Take the scheduler leader lease if nobody holds it, with a new fencing epoch.
-- KEYS[1] = leader key, KEYS[2] = epoch counter.
-- ARGV[1] = replica name, ARGV[2] = lease TTL in ms.
-- Returns the token "<epoch>:<name>" when acquired, false when another replica leads.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
