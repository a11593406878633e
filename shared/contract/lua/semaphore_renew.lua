-- Extend a holder's leases on the semaphores in KEYS (only those it still holds).
-- ARGV[1] = holder, ARGV[2] = lease ms. Returns how many leases were extended.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local renewed = 0
for _, key in ipairs(KEYS) do
  local expiry = redis.call('ZSCORE', key, ARGV[1])
  if expiry and tonumber(expiry) > now then
    redis.call('ZADD', key, 'XX', now + lease, ARGV[1])
    if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
    renewed = renewed + 1
  end
end
return renewed
