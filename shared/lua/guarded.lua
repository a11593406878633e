-- Apply a batch of writes once: only if the marker key is new.
-- KEYS[1] = marker, KEYS[2..] = keys the commands write.
-- ARGV[1] = marker TTL in ms, ARGV[2] = cmsgpack list of {command, key_index, args...}.
-- Pseudo-command HMAXFLOAT key field value keeps the larger of the stored and given value.
-- Returns 1 when applied, 0 when the marker existed (a duplicate delivery).
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
local ops = cmsgpack.unpack(ARGV[2])
for _, op in ipairs(ops) do
  local cmd, key = op[1], KEYS[op[2]]
  if cmd == 'HMAXFLOAT' then
    local cur = tonumber(redis.call('HGET', key, op[3]) or '-inf')
    if tonumber(op[4]) > cur then redis.call('HSET', key, op[3], op[4]) end
  else
    redis.call(cmd, key, unpack(op, 3))
  end
end
return 1
