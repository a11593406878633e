-- Claim the due deliveries of one channel: each is pushed to the lease's end, so another
-- notifier does not take it meanwhile, and it comes back by itself if its claimer dies.
-- KEYS[1] the channel's due zset; ARGV[1] now, ARGV[2] lease end, ARGV[3] how many
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
end
return ids
