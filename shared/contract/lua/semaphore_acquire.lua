-- Take one lease on every semaphore in KEYS, or none (all or nothing).
-- Each semaphore is a sorted set holder -> lease expiry (ms, Redis server time, so
-- hosts with skewed clocks agree); lapsed leases are dropped before counting.
-- ARGV[1] = holder, ARGV[2] = lease ms, ARGV[3..] = limit of each key, in KEYS order.
-- Returns 0 when every lease is held, else the 1-based index of the first full key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local mine = redis.call('ZSCORE', key, ARGV[1])
  if not mine and redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
return 0
