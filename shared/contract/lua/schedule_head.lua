-- When the scheduler must next look, and how much is due by then (one round trip).
-- KEYS[1] = next-fire zset, KEYS[2] = retry zset.
-- Returns false when both are empty, else {earliest score (text, exact), entries of both
-- zsets due at or before it}.
local a = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local b = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local head = a[2]
if b[2] and (not head or tonumber(b[2]) < tonumber(head)) then head = b[2] end
if not head then return false end
return {head, redis.call('ZCOUNT', KEYS[1], '-inf', head) +
  redis.call('ZCOUNT', KEYS[2], '-inf', head)}
