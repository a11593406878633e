-- Take due entries for one executor, most urgent first, count their attempts and take
-- their cluster-wide leases (one round trip instead of a read per priority, a counting
-- pipeline and a semaphore call per run).
-- KEYS = the due streams to read, most urgent first, then every due stream (for last ids).
-- ARGV[1] = group, ARGV[2] = consumer, ARGV[3] = free slots (never more are taken),
-- ARGV[4] = how many of KEYS are read, ARGV[5] = attempts key prefix,
-- ARGV[6] = attempts key suffix, ARGV[7] = attempts TTL in seconds,
-- ARGV[8] = holder suffix (a run's lease holder is its run id followed by it; '' takes no
-- leases), ARGV[9] = lease ms, ARGV[10] / ARGV[11] = task semaphore key prefix / suffix,
-- ARGV[12] / ARGV[13] = resource group semaphore key prefix / suffix, ARGV[14] = msgpack
-- map resource group -> limit (a group it does not name is exclusive, limit 1).
-- Returns {taken, missing, last}: taken = {stream, id, fields, attempt, leased, holder}
-- per entry, attempt 0 when the entry is not a readable task.due (its reader
-- dead-letters it); leased = the semaphore keys whose lease the run now holds (all its
-- limits: max_instances, then its resource groups; none when it has no limit or one is
-- full, then the run waits for them itself); holder = the lease holder ('' when none);
-- missing = streams whose group Redis lost (skipped, so nothing is half taken); last =
-- newest id of each of the other KEYS ('0-0' when empty), to block on from there when
-- nothing was taken. The leases are semaphore_acquire.lua's: a sorted set holder -> lease
-- expiry (ms, Redis server time), all of a run's leases or none.
local free = tonumber(ARGV[3])
local nread = tonumber(ARGV[4])
local lease = tonumber(ARGV[9])
local groups = cmsgpack.unpack(ARGV[14])
local taken, missing, last = {}, {}, {}
-- Leases held per semaphore key: pruned and counted at its first run in the call, then
-- kept here as the call adds leases (the call is atomic: no one else writes between).
local now, held = nil, {}

local function due_of(fields)
  local kind, body
  for i = 1, #fields, 2 do
    if fields[i] == 'type' then kind = fields[i + 1]
    elseif fields[i] == 'body' then body = fields[i + 1] end
  end
  if kind ~= 'task.due' or not body then return nil end
  local ok, decoded = pcall(cmsgpack.unpack, body)
  if not ok or type(decoded) ~= 'table' or type(decoded.run_id) ~= 'string' then return nil end
  return decoded
end

-- The run's semaphore keys and limits (as limits_for in services/executor/semaphores.py),
-- or nil when the body does not say them plainly (the run then takes them itself).
local function limits_of(due)
  local names, limits, seen = {}, {}, {}
  if due.max_instances ~= nil then
    if type(due.max_instances) ~= 'number' or type(due.task) ~= 'string' then return nil end
    names[1], limits[1] = ARGV[10] .. due.task .. ARGV[11], due.max_instances
  end
  if due.resources ~= nil then
    if type(due.resources) ~= 'table' then return nil end
    for _, name in ipairs(due.resources) do
      if type(name) ~= 'string' then return nil end
      local key = ARGV[12] .. name .. ARGV[13]
      if not seen[key] then
        seen[key] = true
        names[#names + 1], limits[#limits + 1] = key, groups[name] or 1
      end
    end
  end
  return names, limits
end

local function acquire(holder, names, limits)
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  for i, key in ipairs(names) do
    if not held[key] then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      held[key] = redis.call('ZCARD', key)
    end
    if held[key] >= limits[i] and not redis.call('ZSCORE', key, holder) then
      return {}
    end
  end
  for _, key in ipairs(names) do
    held[key] = held[key] + redis.call('ZADD', key, now + lease, holder)
  end
  return names
end

local function take(stream, item)
  local attempt, leased, holder = 0, {}, ''
  local due = due_of(item[2])
  if due then
    local key = ARGV[5] .. due.run_id .. ARGV[6]
    attempt = redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[7])
    local names, limits = limits_of(due)
    if names and #names > 0 and ARGV[8] ~= '' then
      leased = acquire(due.run_id .. ARGV[8], names, limits)
      if #leased > 0 then holder = due.run_id .. ARGV[8] end
    end
  end
  taken[#taken + 1] = {stream, item[1], item[2], attempt, leased, holder}
end

for k = 1, nread do
  if #taken >= free then break end
  local reply = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT',
    free - #taken, 'STREAMS', KEYS[k], '>')
  if type(reply) == 'table' and reply.err then
    missing[#missing + 1] = KEYS[k]
  elseif type(reply) == 'table' then
    for _, item in ipairs(reply[1][2]) do take(KEYS[k], item) end
  end
end
-- Each semaphore outlives its newest lease (once per key, not per run).
for key in pairs(held) do
  if redis.call('PTTL', key) < lease then
    redis.call('PEXPIRE', key, lease)
  end
end
for k = nread + 1, #KEYS do
  local newest = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  last[#last + 1] = newest[1] and newest[1][1] or '0-0'
end
return {taken, missing, last}
