-- Put one dead letter back on its source stream, at most once per dead letter.
-- A retried call (the reply to the first was lost) finds the marker and returns the
-- entry the first call wrote, so one requeue never becomes two entries.
-- KEYS[1] = dead stream, KEYS[2] = source stream, KEYS[3] = marker of this dead letter.
-- ARGV[1] = dead-letter id, ARGV[2] = marker TTL (ms), ARGV[3..] = field/value pairs.
-- Returns the new entry id, or false when there is no such dead letter.
local done = redis.call('GET', KEYS[3])
if done then
  return done
end
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return false
end
local new_id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[3], new_id, 'PX', ARGV[2])
return new_id
