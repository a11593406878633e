-- Record slot decisions and move schedules without emitting, fenced by the leader token.
-- KEYS[1] = leader, KEYS[2] = next-fire zset, KEYS[3] = pending-slot hash, KEYS[4..] =
--   decisions streams referenced by the decisions below.
-- ARGV[1] = leader token, ARGV[2] = now ms, ARGV[3] = decisions kept, ARGV[4] = number of
--   moves M, then three per move: task, next score ('-' = schedule ended), next slot
--   ('' = keep the pending slot); then four per decision: key index, slot, outcome, reason.
-- Returns -1 when the token no longer leads (nothing is written), else 1.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local moves = tonumber(ARGV[4])
for i = 0, moves - 1 do
  local a = 4 + i * 3
  local task, score, slot = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if score == '-' then
    redis.call('ZREM', KEYS[2], task)
    redis.call('HDEL', KEYS[3], task)
  else
    redis.call('ZADD', KEYS[2], score, task)
    if slot ~= '' then redis.call('HSET', KEYS[3], task, slot) end
  end
end
for a = 4 + moves * 3, #ARGV - 1, 4 do
  redis.call('XADD', KEYS[tonumber(ARGV[a + 1])], 'MAXLEN', '~', ARGV[3], '*',
    'slot', ARGV[a + 2], 'outcome', ARGV[a + 3], 'reason', ARGV[a + 4], 'run_id', '',
    'at', ARGV[2])
end
return 1
