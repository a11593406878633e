-- Apply batches of writes, each once: a batch runs only if its marker key is new.
-- KEYS = every marker and every key the commands write (each once).
-- ARGV[1] = marker TTL in ms, ARGV[2] = cmsgpack list of batches
--   {marker (index into KEYS), ops = list of {command, key index, args...}}.
-- Scripts are not rolled back on error, so each write runs under pcall: one broken key
-- (e.g. a wrong type) costs that write only, and no write is ever applied twice.
-- Returns one reply per batch, in order: {1, errors...} when applied, {0} when its
-- marker existed (a duplicate, also of an earlier batch of the same call).
local function apply(ops)
  local out = {1}
  for _, op in ipairs(ops) do
    local cmd, key = op[1], KEYS[op[2]]
    local res = redis.pcall(cmd, key, unpack(op, 3))
    if type(res) == 'table' and res.err then
      table.insert(out, cmd .. ' ' .. key .. ': ' .. res.err)
    end
  end
  return out
end

local replies = {}
for i, batch in ipairs(cmsgpack.unpack(ARGV[2])) do
  if redis.call('SET', KEYS[batch[1]], '1', 'NX', 'PX', ARGV[1]) then
    replies[i] = apply(batch[2])
  else
    replies[i] = {0}
  end
end
return replies
