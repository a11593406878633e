-- Apply items once each (an item applies only if its marker key is new), their tallies
-- summed over the call and written once per key and field (shared/contract/tallied.py).
-- KEYS = every marker and every key written (each once).
-- ARGV[1] = marker TTL in ms, ARGV[2] = cmsgpack list of items
--   {marker (index into KEYS), writes, tallies}:
--   writes = list of {command, key index, args...}, run as given when the item applies;
--   tallies = list of {key index, op, field, value, op, field, value, ...}, op one of
--     'i' add (HINCRBY), 'f' add (HINCRBYFLOAT), 'M'/'m' keep the larger/smaller of the
--     stored and given value, 's' set (a later 'i'/'f' adds to it), 'x' EXPIRE the key
--     after value seconds (field ignored).
-- ARGV[3] (optional, '' for none) = cmsgpack {stream (index into KEYS), group, entry
--   ids...}: the entries the items came from, acked once every item is applied (or was
--   before): the record and its ack are one step, and a duplicate is acked too.
-- ARGV[4] (optional) = the items' tallies summed by the caller, for a call whose items
--   all apply (the usual case: the items then carry no tallies): cmsgpack list of
--   {key index, {item = the first item that tallied the key, names = its fields in
--   order, fields = {field -> {add, fadd, set, max, min}} (what summing the ops above
--   leaves), expire = seconds (absent: none)}}. When a marker exists already, the call
--   writes nothing and returns -1: the caller sends the items with their own tallies.
-- Scripts are not rolled back on error, so each write runs under pcall: one broken key
-- (e.g. a wrong type) costs its writes only, and nothing is ever applied twice.
-- Returns one reply per item, in order: {1, errors...} when applied (a tallied key's
-- errors go to the first applied item that tallied it), {0} when its marker existed
-- (a duplicate, also of an earlier item of the same call); -1 as said for ARGV[4].
local replies, sums, order = {}, {}, {}

local function check(out, cmd, key, res)
  if type(res) == 'table' and res.err then
    table.insert(out, cmd .. ' ' .. key .. ': ' .. res.err)
  end
end

local function tally(item, group)
  local k = group[1]
  local sum = sums[k]
  if not sum then
    sum = {fields = {}, names = {}, item = item}
    sums[k] = sum
    table.insert(order, k)
  end
  for j = 2, #group, 3 do
    local op, name, value = group[j], group[j + 1], group[j + 2]
    if op == 'x' then
      sum.expire = value
    else
      local f = sum.fields[name]
      if not f then
        f = {}
        sum.fields[name] = f
        table.insert(sum.names, name)
      end
      if op == 'i' then f.add = (f.add or 0) + value
      elseif op == 'f' then f.fadd = (f.fadd or 0) + value
      elseif op == 's' then f.set, f.add, f.fadd = value, nil, nil
      elseif op == 'M' then if f.max == nil or value > f.max then f.max = value end
      elseif op == 'm' then if f.min == nil or value < f.min then f.min = value end
      end
    end
  end
end

-- Fields kept as the larger/smaller of stored and tallied: one HMGET for the key.
local function extremes(out, key, sum, compared, hset)
  local stored = redis.pcall('HMGET', key, unpack(compared))
  if stored.err then return check(out, 'HMGET', key, stored) end
  for j, name in ipairs(compared) do
    local f, cur = sum.fields[name], tonumber(stored[j])
    if f.max ~= nil and (cur == nil or f.max > cur) then
      table.insert(hset, name); table.insert(hset, f.max)
    elseif f.min ~= nil and (cur == nil or f.min < cur) then
      table.insert(hset, name); table.insert(hset, f.min)
    end
  end
end

local function flush(key, sum)
  local out, hset, compared = replies[sum.item], {}, {}
  for _, name in ipairs(sum.names) do
    local f = sum.fields[name]
    if f.set ~= nil then
      local value = f.set
      if f.add or f.fadd then value = tonumber(value) + (f.add or 0) + (f.fadd or 0) end
      table.insert(hset, name); table.insert(hset, value)
    else
      if f.add then check(out, 'HINCRBY', key, redis.pcall('HINCRBY', key, name, f.add)) end
      if f.fadd then
        check(out, 'HINCRBYFLOAT', key, redis.pcall('HINCRBYFLOAT', key, name, f.fadd))
      end
      if f.max ~= nil or f.min ~= nil then table.insert(compared, name) end
    end
  end
  if #compared > 0 then extremes(out, key, sum, compared, hset) end
  if #hset > 0 then check(out, 'HSET', key, redis.pcall('HSET', key, unpack(hset))) end
  if sum.expire then check(out, 'EXPIRE', key, redis.pcall('EXPIRE', key, sum.expire)) end
end

local function apply(i, item)
  local out = {1}
  for _, op in ipairs(item[2]) do
    local key = KEYS[op[2]]
    check(out, op[1], key, redis.pcall(op[1], key, unpack(op, 3)))
  end
  replies[i] = out
end

local items = cmsgpack.unpack(ARGV[2])
if ARGV[4] then
  for i, item in ipairs(items) do
    if not redis.call('SET', KEYS[item[1]], '1', 'NX', 'PX', ARGV[1]) then
      for j = 1, i - 1 do redis.call('DEL', KEYS[items[j][1]]) end
      return -1
    end
  end
  for i, item in ipairs(items) do apply(i, item) end
  for _, summed in ipairs(cmsgpack.unpack(ARGV[4])) do
    table.insert(order, summed[1])
    sums[summed[1]] = summed[2]
  end
else
  for i, item in ipairs(items) do
    if redis.call('SET', KEYS[item[1]], '1', 'NX', 'PX', ARGV[1]) then
      apply(i, item)
      for _, group in ipairs(item[3]) do tally(i, group) end
    else
      replies[i] = {0}
    end
  end
end
for _, k in ipairs(order) do flush(KEYS[k], sums[k]) end
if ARGV[3] and ARGV[3] ~= '' then
  local ack = cmsgpack.unpack(ARGV[3])
  for i = 3, #ack, 1000 do
    redis.call('XACK', KEYS[ack[1]], ack[2], unpack(ack, i, math.min(i + 999, #ack)))
  end
end
return replies
