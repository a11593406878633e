-- Emit a batch of task.due events, fenced by the leader token, each exactly once.
-- KEYS[1] = leader, KEYS[2] = next-fire zset, KEYS[3] = pending-slot hash, then six per
--   item: fired marker, due stream, task running zset, window running zset, task state
--   hash, task decisions stream.
-- ARGV[1] = leader token, ARGV[2] = fired-marker TTL ms, ARGV[3] = now ms,
--   ARGV[4] = decisions kept, ARGV[5] = event type, ARGV[6] = schema version, then eleven
--   per item: task, slot, run_id, body, max_instances (0 = no cap), overlap
--   (skip|queue|allow), window max_concurrent (0 = no window), next score ('' = leave the
--   zset alone, '-' = the schedule ended), next slot, defer score ('' = none; else the
--   task's next fire moves there and ``slot`` stays pending), run lease ms.
-- Returns -1 when the token no longer leads (nothing is written), else one code per item:
--   0 already fired (duplicate), 1 emitted, 2 skipped (overlap), 3 deferred (overlap queue),
--   4 deferred (window full).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local now = tonumber(ARGV[3])
local kept = tonumber(ARGV[4])

local function decide(key, slot, outcome, reason, run_id)
  redis.call('XADD', key, 'MAXLEN', '~', kept, '*', 'slot', slot, 'outcome', outcome,
    'reason', reason, 'run_id', run_id, 'at', now)
end

local function advance(task, score, slot)
  if score == '-' then
    redis.call('ZREM', KEYS[2], task)
    redis.call('HDEL', KEYS[3], task)
  elseif score ~= '' then
    redis.call('ZADD', KEYS[2], score, task)
    redis.call('HSET', KEYS[3], task, slot)
  end
end

local function full(key, cap)
  if cap <= 0 then return false end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key) >= cap
end

local function busy_code(k, a)
  local cap = tonumber(ARGV[a + 5])
  if ARGV[a + 6] == 'allow' then cap = 0 end
  if full(KEYS[k + 3], cap) then
    if ARGV[a + 6] == 'queue' then return 3 end
    return 2
  end
  if full(KEYS[k + 4], tonumber(ARGV[a + 7])) then return 4 end
  return 1
end

local function emit_one(k, a)
  local task, slot, run_id = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if redis.call('EXISTS', KEYS[k + 1]) == 1 then
    advance(task, ARGV[a + 8], ARGV[a + 9])
    return 0
  end
  local code = busy_code(k, a)
  if code == 2 then
    advance(task, ARGV[a + 8], ARGV[a + 9])
    decide(KEYS[k + 6], slot, 'skipped', 'overlap: max_instances running', run_id)
    return 2
  elseif code ~= 1 then
    if ARGV[a + 10] ~= '' then
      redis.call('ZADD', KEYS[2], ARGV[a + 10], task)
      redis.call('HSET', KEYS[3], task, slot)
    end
    local why = 'overlap: queued behind running instances'
    if code == 4 then why = 'window full: max_concurrent runs in the window' end
    decide(KEYS[k + 6], slot, 'deferred', why, run_id)
    return code
  end
  redis.call('SET', KEYS[k + 1], '1', 'NX', 'PX', ARGV[2])
  redis.call('XADD', KEYS[k + 2], '*', 'type', ARGV[5], 'v', ARGV[6], 'body', ARGV[a + 4])
  local expiry = now + tonumber(ARGV[a + 11])
  redis.call('ZADD', KEYS[k + 3], expiry, run_id)
  if tonumber(ARGV[a + 7]) > 0 then redis.call('ZADD', KEYS[k + 4], expiry, run_id) end
  redis.call('HSET', KEYS[k + 5], 'last_fired_at', now / 1000, 'last_slot', slot,
    'last_run_id', run_id)
  advance(task, ARGV[a + 8], ARGV[a + 9])
  decide(KEYS[k + 6], slot, 'fired', 'emitted ' .. run_id, run_id)
  return 1
end

local out = {}
local n = (#ARGV - 6) / 11
for i = 0, n - 1 do
  out[i + 1] = emit_one(3 + i * 6, 6 + i * 11)
end
return out
