-- Add one delivery to the notifier's outbox unless it is there already (idempotent).
-- KEYS[1] delivery hash, KEYS[2] the channel's due zset
-- ARGV[1] due at (epoch s), ARGV[2] delivery id, ARGV[3..] field/value pairs
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
