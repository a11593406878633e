-- Apply a batch of writes once: only if the marker key is new.
-- KEYS[1] = marker, KEYS[2..] = keys the commands write.
-- ARGV[1] = marker TTL in ms, ARGV[2] = cmsgpack list of {command, key_index, args...}.
-- Pseudo-commands HMAXFLOAT/HMINFLOAT key field value keep the larger/smaller of the
-- stored and given value.
-- Scripts are not rolled back on error, so each write runs under pcall: one broken key
-- (e.g. a wrong type) costs that write only, and no write is ever applied twice.
-- Returns {1, errors...} when applied, {0} when the marker existed (a duplicate).
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return {0}
end
local out = {1}
for _, op in ipairs(cmsgpack.unpack(ARGV[2])) do
  local cmd, key = op[1], KEYS[op[2]]
  local res
  if cmd == 'HMAXFLOAT' then
    local cur = tonumber(redis.call('HGET', key, op[3]) or '-inf')
    if tonumber(op[4]) > cur then res = redis.pcall('HSET', key, op[3], op[4]) end
  elseif cmd == 'HMINFLOAT' then
    local cur = tonumber(redis.call('HGET', key, op[3]) or 'inf')
    if tonumber(op[4]) < cur then res = redis.pcall('HSET', key, op[3], op[4]) end
  else
    res = redis.pcall(cmd, key, unpack(op, 3))
  end
  if type(res) == 'table' and res.err then
    table.insert(out, cmd .. ' ' .. key .. ': ' .. res.err)
  end
end
return out
