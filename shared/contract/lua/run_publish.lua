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
-- The releases, acks and progress deletions of the call's runs are gathered and sent
-- once per key (a call of many runs costs two commands per run, not five).
-- An entry twice in one call publishes once: its ack, deferred, would not stop the second.
local replies, holders, acks, progress, done = {}, {}, {}, {}, {}
local function add(map, key, value)
  local list = map[key]
  if list == nil then list = {}; map[key] = list end
  list[#list + 1] = value
end
for i, run in ipairs(cmsgpack.unpack(ARGV[5])) do
  local stream, entry_id, hash, holder, leases, body =
    run[1], run[2], run[3], run[4], run[5], run[6]
  for _, key in ipairs(leases) do add(holders, key, holder) end
  local owned = {}
  if not done[stream .. ' ' .. entry_id] then
    owned = redis.call('XPENDING', stream, ARGV[1], entry_id, entry_id, 1, ARGV[2])
  end
  if #owned == 0 then
    replies[i] = 0
  else
    redis.call('XADD', KEYS[1], '*', 'type', ARGV[3], 'v', ARGV[4], 'body', body)
    add(acks, stream, entry_id)
    done[stream .. ' ' .. entry_id] = true
    progress[#progress + 1] = hash
    replies[i] = 1
  end
end
-- Lua's unpack takes a few thousand values: long lists go in pieces of 1000.
local function piece(list, i) return unpack(list, i, math.min(i + 999, #list)) end
for key, list in pairs(holders) do
  for i = 1, #list, 1000 do redis.call('ZREM', key, piece(list, i)) end
end
for stream, ids in pairs(acks) do
  for i = 1, #ids, 1000 do redis.call('XACK', stream, ARGV[1], piece(ids, i)) end
end
for i = 1, #progress, 1000 do redis.call('DEL', piece(progress, i)) end
return replies
