-- Take due entries for one executor, most urgent first, and count their attempts
-- (one round trip instead of a read per priority and a separate counting pipeline).
-- KEYS = the due streams to read, most urgent first, then every due stream (for last ids).
-- ARGV[1] = group, ARGV[2] = consumer, ARGV[3] = free slots (never more are taken),
-- ARGV[4] = how many of KEYS are read, ARGV[5] = attempts key prefix,
-- ARGV[6] = attempts key suffix, ARGV[7] = attempts TTL in seconds.
-- Returns {taken, missing, last}: taken = {stream, id, fields, attempt} per entry, attempt
-- 0 when the entry is not a readable task.due (its reader dead-letters it); missing =
-- streams whose group Redis lost (skipped, so nothing is half taken); last = newest id of
-- each of the other KEYS ('0-0' when empty), to block on from there when nothing was taken.
local free = tonumber(ARGV[3])
local nread = tonumber(ARGV[4])
local taken, missing, last = {}, {}, {}

local function run_id_of(fields)
  local kind, body
  for i = 1, #fields, 2 do
    if fields[i] == 'type' then kind = fields[i + 1]
    elseif fields[i] == 'body' then body = fields[i + 1] end
  end
  if kind ~= 'task.due' or not body then return nil end
  local ok, decoded = pcall(cmsgpack.unpack, body)
  if not ok or type(decoded) ~= 'table' or type(decoded.run_id) ~= 'string' then return nil end
  return decoded.run_id
end

for k = 1, nread do
  if #taken >= free then break end
  local reply = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT',
    free - #taken, 'STREAMS', KEYS[k], '>')
  if type(reply) == 'table' and reply.err then
    missing[#missing + 1] = KEYS[k]
  elseif type(reply) == 'table' then
    for _, item in ipairs(reply[1][2]) do
      local attempt = 0
      local run_id = run_id_of(item[2])
      if run_id then
        local key = ARGV[5] .. run_id .. ARGV[6]
        attempt = redis.call('INCR', key)
        redis.call('EXPIRE', key, ARGV[7])
      end
      taken[#taken + 1] = {KEYS[k], item[1], item[2], attempt}
    end
  end
end
for k = nread + 1, #KEYS do
  local newest = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  last[#last + 1] = newest[1] and newest[1][1] or '0-0'
end
return {taken, missing, last}
