-- Publish runs' results and ack their due entries, each only while this consumer still
-- owns the entry, and give back the runs' semaphore leases. An executor that was paused
-- past the visibility timeout finds its entry reclaimed (or already acked) and publishes
-- nothing for it: its late ack is a no-op. MULTI/EXEC cannot make the writes depend on
-- PEL ownership; one script can. Runs that finish together share one call.
-- KEYS[1] = results stream, then per run: due stream, progress hash, its semaphore keys.
-- ARGV[1] = group, ARGV[2] = consumer, then per run: entry id, lease holder, number of
-- semaphore keys, number of result fields, the result fields.
-- Returns one reply per run, in order: 1 when published, 0 when the entry is no longer
-- this consumer's. Leases are released either way (another executor's run of the same
-- entry holds its own, under its own holder name).
local replies = {}
local k, a = 2, 3
while a <= #ARGV do
  local stream, progress, entry_id, holder = KEYS[k], KEYS[k + 1], ARGV[a], ARGV[a + 1]
  local nleases, nfields = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  for i = 1, nleases do
    redis.call('ZREM', KEYS[k + 1 + i], holder)
  end
  local owned = redis.call('XPENDING', stream, ARGV[1], entry_id, entry_id, 1, ARGV[2])
  if #owned == 0 then
    replies[#replies + 1] = 0
  else
    redis.call('XADD', KEYS[1], '*', unpack(ARGV, a + 4, a + 3 + nfields))
    redis.call('XACK', stream, ARGV[1], entry_id)
    redis.call('DEL', progress)
    replies[#replies + 1] = 1
  end
  k, a = k + 2 + nleases, a + 4 + nfields
end
return replies
