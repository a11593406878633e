-- Renew (or, with TTL 0, release) the leader lease, but only for the token holding it.
-- KEYS[1] = leader key. ARGV[1] = token, ARGV[2] = lease TTL in ms (0 = release).
-- Returns 1 when this token still leads (renewed or released), 0 when it does not.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
