-- Emit one task.due exactly once per occurrence, fenced by the leader epoch.
-- KEYS[1] = fired marker, KEYS[2] = due stream, KEYS[3] = epoch key,
-- KEYS[4] = source stream to ack (or the due stream when none).
-- ARGV[1] = expected epoch ('' = no fencing), ARGV[2] = marker TTL ms,
-- ARGV[3] = type, ARGV[4] = version, ARGV[5] = body,
-- ARGV[6] = source group ('' = nothing to ack), ARGV[7] = source entry id.
-- Returns -1 when fenced out, 0 when already fired (duplicate), 1 when emitted.
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return -1
end
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2])
if fresh then
  redis.call('XADD', KEYS[2], '*', 'type', ARGV[3], 'v', ARGV[4], 'body', ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[6], ARGV[7])
end
if fresh then return 1 end
return 0
