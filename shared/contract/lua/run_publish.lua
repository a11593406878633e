-- Publish runs' results and ack their due entries, each only while this consumer still
-- owns the entry, and give back the runs' semaphore leases. An executor that was paused
-- past the visibility timeout finds its entry reclaimed (or already acked) and publishes
-- nothing for it: its late ack is a no-op. MULTI/EXEC cannot make the writes depend on
-- PEL ownership; one script can. Runs that finish together share one call.
-- KEYS[1] = results stream. The other keys a run touches (its due stream, progress hash
-- and semaphores) are named in its record; all are under the namespace, so on Redis
-- Cluster they share the results stream's hash slot when the namespace is a hash tag.
-- ARGV[1] = group, ARGV[2] = consumer, ARGV[3] / ARGV[4] = the result entries' type and
-- schema version, ARGV[5] = msgpack array of runs, each
-- {due stream, entry id, progress hash, lease holder, {semaphore keys}, result body}.
-- Returns one reply per run, in order: 1 when published, 0 when the entry is no longer
-- this consumer's. Leases are released either way (another executor's run of the same
-- entry holds its own, under its own holder name).
local replies = {}
for i, run in ipairs(cmsgpack.unpack(ARGV[5])) do
  local stream, entry_id, progress, holder, leases, body =
    run[1], run[2], run[3], run[4], run[5], run[6]
  for _, key in ipairs(leases) do
    redis.call('ZREM', key, holder)
  end
  local owned = redis.call('XPENDING', stream, ARGV[1], entry_id, entry_id, 1, ARGV[2])
  if #owned == 0 then
    replies[i] = 0
  else
    redis.call('XADD', KEYS[1], '*', 'type', ARGV[3], 'v', ARGV[4], 'body', body)
    redis.call('XACK', stream, ARGV[1], entry_id)
    redis.call('DEL', progress)
    replies[i] = 1
  end
end
return replies
