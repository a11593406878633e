-- What is due: tasks whose next fire has come, with their pending slots, and due retries.
-- KEYS[1] = next-fire zset, KEYS[2] = pending-slot hash, KEYS[3] = retry zset.
-- ARGV[1] = now (epoch seconds), ARGV[2] = most entries of each kind to return.
-- Returns {{task, slot or false, ...}, {retry member, ...}} (one round trip per tick).
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local due = {}
for i, name in ipairs(names) do
  due[2 * i - 1] = name
  due[2 * i] = redis.call('HGET', KEYS[2], name)
end
local retries = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
return {due, retries}
