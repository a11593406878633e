-- Write one batch of the scheduler, fenced by the leader token: move schedules, record
-- decisions, then emit task.due events, each occurrence exactly once.
-- KEYS[1] = leader, KEYS[2] = next-fire zset, KEYS[3] = pending-slot hash.
-- ARGV[1] = leader token, ARGV[2] = fired-marker TTL ms, ARGV[3] = now ms,
--   ARGV[4] = decisions kept, ARGV[5] = event type, ARGV[6] = schema version,
--   ARGV[7] = cmsgpack {moves, decisions, items}:
--   move = {task, score ('-' = the schedule ended), slot ('' = keep the pending slot)};
--   decision = {decisions stream, slot, outcome, reason};
--   item = {fired marker, due stream, task running zset, window running zset ('' = no
--     window), task state hash, task decisions stream, task, slot, run_id, body,
--     max_instances (0 = no cap), overlap (skip|queue|allow), window max_concurrent,
--     next score ('' = leave the zset alone, '-' = the schedule ended), next slot,
--     defer score ('' = none; else the task's next fire moves there and ``slot`` stays
--     pending), run lease ms}.
-- The per-item keys travel in ARGV[7]: one argument per batch instead of seventeen per
-- item. They all carry the namespace's {hash tag}, so they live in KEYS[1]'s slot.
-- Returns -1 when the token no longer leads (nothing is written), else one code per item:
--   0 already fired (duplicate), 1 emitted, 2 skipped (overlap), 3 deferred (overlap queue),
--   4 deferred (window full).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local now = tonumber(ARGV[3])
local kept = ARGV[4]
local batch = cmsgpack.unpack(ARGV[7])

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
    if slot ~= '' then redis.call('HSET', KEYS[3], task, slot) end
  end
end

local function full(key, cap)
  if cap <= 0 then return false end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key) >= cap
end

local function busy_code(it)
  local cap = it[11]
  if it[12] == 'allow' then cap = 0 end
  if full(it[3], cap) then
    if it[12] == 'queue' then return 3 end
    return 2
  end
  if it[4] ~= '' and full(it[4], it[13]) then return 4 end
  return 1
end

local function defer(it, code)
  if it[16] ~= '' then
    redis.call('ZADD', KEYS[2], it[16], it[7])
    redis.call('HSET', KEYS[3], it[7], it[8])
  end
  local why = 'overlap: queued behind running instances'
  if code == 4 then why = 'window full: max_concurrent runs in the window' end
  decide(it[6], it[8], 'deferred', why, it[9])
  return code
end

local function emit_one(it)
  local code = busy_code(it)
  if code ~= 1 and redis.call('EXISTS', it[1]) == 0 then
    if code ~= 2 then return defer(it, code) end
    advance(it[7], it[14], it[15])
    decide(it[6], it[8], 'skipped', 'overlap: max_instances running', it[9])
    return 2
  end
  -- The marker is set NX: its reply says whether this occurrence fired before.
  if not redis.call('SET', it[1], '1', 'NX', 'PX', ARGV[2]) then
    advance(it[7], it[14], it[15])
    return 0
  end
  redis.call('XADD', it[2], '*', 'type', ARGV[5], 'v', ARGV[6], 'body', it[10])
  local expiry = now + it[17]
  redis.call('ZADD', it[3], expiry, it[9])
  if it[4] ~= '' then redis.call('ZADD', it[4], expiry, it[9]) end
  redis.call('HSET', it[5], 'fired_at', now / 1000, 'fired_slot', it[8],
    'fired_run_id', it[9])
  advance(it[7], it[14], it[15])
  decide(it[6], it[8], 'fired', 'emitted ' .. it[9], it[9])
  return 1
end

for _, m in ipairs(batch[1]) do advance(m[1], m[2], m[3]) end
for _, d in ipairs(batch[2]) do decide(d[1], d[2], d[3], d[4], '') end
local out = {}
for i, it in ipairs(batch[3]) do out[i] = emit_one(it) end
return out
