-- Publish one run's result and ack its due entry, but only while this consumer still
-- owns the entry. An executor that was paused past the visibility timeout finds its
-- entry reclaimed (or already acked) and publishes nothing: its late ack is a no-op.
-- MULTI/EXEC cannot make the writes depend on PEL ownership; one script can.
-- KEYS[1] = due stream, KEYS[2] = results stream, KEYS[3] = progress hash.
-- ARGV[1] = group, ARGV[2] = entry id, ARGV[3] = consumer, ARGV[4..] = result fields.
-- Returns 1 when published, 0 when the entry is no longer this consumer's.
local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #owned == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
