-- Write one batch of the scheduler, fenced by the leader token: move schedules, record
-- decisions, then emit task.due events, each occurrence exactly once.
-- KEYS[1] = leader, KEYS[2] = next-fire zset, KEYS[3] = pending-slot hash,
-- KEYS[4] = retry zset (read only by the lookahead).
-- ARGV[1] = leader token, ARGV[2] = fired-marker TTL ms, ARGV[3] = now ms,
--   ARGV[4] = decisions kept, ARGV[5] = event type, ARGV[6] = schema version,
--   ARGV[7] = cmsgpack map {moves, decisions, items, count, profiles, prefix, group}
--   built by services/scheduler/emitter.py (every field is named there, one function
--   per kind):
--   move = {task, ends (true: the schedule ended) | score [, slot (the new pending slot)]};
--   decision = {key (the task's decisions list), fields (map of a Decision's fields; the
--     script adds at_ms), tally};
--   items = the `count` items one after the other in one string, each read by one
--   struct.unpack of ITEM (services/scheduler/itemwire.py: ITEM_FIELDS, ITEM_FORMAT), so
--   that decoding builds no table per item. An item is
--     {profile (index into profiles), task, slot, body, due_ms (fire time, for the
--     lateness histogram; 0: none), move (the task's next score after the emission,
--     '-': its schedule ends; '': leave it alone), move_slot (the new pending slot; '':
--     keep it), defer_at (where the task's next fire moves when it is deferred; the slot
--     stays pending), run_id ('': task:slot), ack_stream + ack_id (the trigger entry the
--     item comes from: acked in group batch.group when the item is emitted or was
--     emitted before, so the ack is atomic with the emission; a busy item stays pending
--     for the caller to refuse)}; '' is an absent text field;
--   profile = what many items share (kit.py PROFILE_FIELDS): {stream (due stream),
--     overlap (skip|queue|allow), lease_ms, max_instances (absent = no cap),
--     window_running (window run-lease zset; absent = no window), window_max,
--     report_busy (true: a busy item is only reported, the caller decides)};
--   prefix = {fired, running, state, decisions}: the names of the item's fired marker
--     (prefix .. task .. ':' .. slot; only for slots that are not a schedule's, see
--     fired_before), run-lease zset (run_id -> expiry ms on Redis' TIME), state hash and
--     decisions list (prefix .. task), from shared/contract/keys.py;
--   group (the consumer group the triggers are acked in),
--   tally, lateness (counter hashes, shared/contract/tallies.py); a decision map
--     carries its tally field.
-- Written into the script's text (shared/contract/scripts.py constants()), not sent:
--   CODES = {[code] = {outcome, cause, reason}}, the words of each reply code
--   (shared/contract/emission.py EmitCode), TALLY_PREFIX = {[code] = 'outcome|cause|'},
--   LATE_BUCKETS ({bound ms, field} ascending) and LATE_INF (the last bucket's field).
-- ARGV[8] = lookahead: when above 0, the reply also says what is due next (ahead() of
--   schedule_ahead.lua, listing at most ARGV[8] entries of each kind), read after the
--   writes, so the timer needs no other round trip before its next tick.
-- The per-item keys travel in ARGV[7]: one argument per batch instead of many per item.
-- They all carry the namespace's {hash tag}, so they live in KEYS[1]'s slot.
-- Returns -1 when the token no longer leads (nothing is written), else one EmitCode per
-- item: 0 duplicate, 1 emitted, 2 skipped (overlap), 3 deferred (overlap queue),
-- 4 deferred (window full); with a lookahead, {those codes, ahead()'s reply}.
--#include schedule_ahead
--#constant CODES
--#constant TALLY_PREFIX
--#constant LATE_BUCKETS
--#constant LATE_INF
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local now = tonumber(ARGV[3])
-- Numbers become text when passed to redis.call: convert the ones every item writes once.
local now_text, fired_at, expiries = tostring(now), tostring(now / 1000), {}
-- Run leases (running and window_running zsets) expire on Redis' own clock, the one
-- every writer shares: a step of the scheduler's wall clock (NTP, a VM resumed) must
-- not make a run that is still going look finished, nor one long gone look alive.
local t = redis.call('TIME')
local lease_now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kept = tonumber(ARGV[4])
-- A decisions list is trimmed back to `kept` once it holds a tenth more (as XADD's
-- MAXLEN ~ trims whole nodes): one LTRIM per kept/10 decisions, not one per decision.
local trim_past = kept + math.max(1, math.floor(kept / 10))
local batch = cmsgpack.unpack(ARGV[7])
local DUPLICATE, EMITTED, SKIPPED_OVERLAP, DEFERRED_OVERLAP, DEFERRED_WINDOW = 0, 1, 2, 3, 4

-- Counters, schedule moves and each task's fired_* are gathered while the items are
-- handled and written once per call (flush): one HINCRBY per counter field, one ZADD /
-- HSET for every schedule the call moves and one HSET per task that fired, instead of a
-- few commands per item.
local tallied, lates, late_n, late_ms, moved, acks = {}, {}, 0, 0, {}, {}
-- The state hash's fired_slot / fired_run_id of each task that fired in the call, as its
-- last emitted item leaves them, and fired_hwm, its highest schedule slot (by state key).
local fired_slot, fired_run, fired_hwm = {}, {}, {}

-- The trigger entry of an item that was emitted (now or before): acked with the call.
local function ack(it)
  if not it.ack_id then return end
  local ids = acks[it.ack_stream]
  if ids == nil then ids = {}; acks[it.ack_stream] = ids end
  ids[#ids + 1] = it.ack_id
end

local function tally(field)
  tallied[field] = (tallied[field] or 0) + 1
end

local last_due, last_field -- the items of a tick share their due time
local function late(due_ms)
  if not (due_ms and batch.lateness) then return end
  local ms = math.max(0, now - due_ms)
  local field = last_field
  if due_ms ~= last_due then
    field = LATE_INF
    for _, b in ipairs(LATE_BUCKETS) do
      if ms <= b[1] then field = b[2]; break end
    end
    last_due, last_field = due_ms, field
  end
  late_n, late_ms = late_n + 1, late_ms + ms
  lates[field] = (lates[field] or 0) + 1
end

-- Decisions: each task's list {ns}:decisions:<task> holds its last `kept` decisions
-- (up to a tenth more until trimmed), newest first, each a msgpack map of a Decision's
-- fields (shared/contract/decisions.py; empty ones left out). A list, not a stream: a
-- stream's first node preallocates 4 KB, which a task firing weekly would keep for the
-- one or two entries it holds.
-- A decisions stream an older version wrote is turned into the list, entries and order
-- kept, the first time a decision is appended to it; a key of any other type is left
-- alone and the decision not recorded (the writes before it stand: an error here would
-- end the call half done).
local function relist(key)
  local entries = redis.call('XRANGE', key, '-', '+')
  redis.call('DEL', key)
  local blobs = {} -- oldest first: each LPUSH puts the next one ahead of it
  for i = math.max(1, #entries - kept + 1), #entries do
    local fields, entry = entries[i][2], {}
    for j = 1, #fields, 2 do
      if fields[j + 1] ~= '' then entry[fields[j]] = fields[j + 1] end
    end
    blobs[#blobs + 1] = cmsgpack.pack(entry)
  end
  for i = 1, #blobs, 1000 do
    redis.call('LPUSH', key, unpack(blobs, i, math.min(i + 999, #blobs)))
  end
end

local function record(key, entry)
  entry.at_ms = now_text
  local blob = cmsgpack.pack(entry)
  local n = redis.pcall('LPUSH', key, blob)
  if type(n) == 'table' then
    if redis.call('TYPE', key).ok ~= 'stream' then return end
    relist(key)
    n = redis.call('LPUSH', key, blob)
  end
  if n > trim_past then redis.call('LTRIM', key, 0, kept - 1) end
end

local function decide(it, code)
  local words = CODES[code]
  tally(TALLY_PREFIX[code] .. it.task)
  local entry = {slot = it.slot, outcome = words.outcome}
  if code == EMITTED then entry.run_id = it.run_id end
  if words.cause ~= '' then entry.cause = words.cause end
  if words.reason ~= '' then entry.reason = words.reason end
  record(it.decisions, entry)
  return code
end

-- A task's schedule as this call leaves it: score false = removed; slot false =
-- removed, nil = untouched (a move without a slot keeps the pending one).
local function schedule(task, score, slot)
  local entry = moved[task]
  if entry == nil then entry = {}; moved[task] = entry end
  entry.score = score
  if slot ~= nil then entry.slot = slot end
end

local function advance(task, move)
  if move == nil then return end
  if move.ends then
    schedule(task, false, false)
  elseif move.score then
    schedule(task, move.score, move.slot or nil)
  end
end

-- An item's own move (its task's schedule after the emission).
local function advance_item(it)
  if it.move == '-' then
    schedule(it.task, false, false)
  elseif it.move then
    schedule(it.task, it.move, it.move_slot)
  end
end

-- The item in hand: one table, refilled for each item (no table per item), from the
-- fields at pos of the items string s, its profile and the key prefixes; returns where
-- the next item starts.
local ITEM = '>HHc0Hc0I4c0dHc0Hc0Hc0Hc0Hc0Hc0'
local it, slot_ms, prefix = {}, false, batch.prefix
local function opt(text)
  if text == '' then return nil end
  return text
end
local function load_item(s, pos)
  local profile, task, slot, body, due_ms, move, move_slot, defer_at, run_id, ack_stream,
    ack_id, after = struct.unpack(ITEM, s, pos)
  local p = batch.profiles[profile]
  it.task, it.slot, it.body, it.move, it.move_slot = task, slot, body, opt(move), opt(move_slot)
  it.due_ms, it.defer_at, it.run_id = due_ms > 0 and due_ms or nil, opt(defer_at),
    opt(run_id) or (task .. ':' .. slot)
  it.ack_stream, it.ack_id = opt(ack_stream), opt(ack_id)
  it.stream, it.overlap, it.lease_ms = p.stream, p.overlap, p.lease_ms
  it.max_instances, it.window_running, it.window_max = p.max_instances, p.window_running,
    p.window_max
  it.report_busy = p.report_busy
  it.fired = prefix.fired .. task .. ':' .. slot
  -- A schedule's slot as a number (whole ms fit a double); false: any other slot.
  slot_ms = (#slot <= 15 and string.find(slot, '^%d+$') and tonumber(slot)) or false
  it.running, it.state = prefix.running .. task, prefix.state .. task
  it.decisions = prefix.decisions .. task
  return after
end

-- `command key` over `args` in pieces (Lua's unpack takes a few thousand values).
local function each(command, key, args)
  for i = 1, #args, 1000 do
    redis.call(command, key, unpack(args, i, math.min(i + 999, #args)))
  end
end

-- Adds `fields` (field -> n) to counter hash `key`: HINCRBY each of a few fields; for
-- many (a burst: one per task), one HMGET and one HSET of the sums instead.
local function increments(key, fields)
  if not key then return end
  local names = {}
  for field in pairs(fields) do names[#names + 1] = field end
  if #names <= 8 then
    for _, field in ipairs(names) do redis.call('HINCRBY', key, field, fields[field]) end
    return
  end
  for i = 1, #names, 500 do
    local part = {unpack(names, i, math.min(i + 499, #names))}
    local old = redis.call('HMGET', key, unpack(part))
    local sums = {}
    for j, field in ipairs(part) do
      sums[2 * j - 1] = field
      sums[2 * j] = tostring((tonumber(old[j]) or 0) + fields[field])
    end
    redis.call('HSET', key, unpack(sums))
  end
end

local function flush()
  local scores, slots, gone, unslotted = {}, {}, {}, {}
  for task, entry in pairs(moved) do
    if entry.score then
      scores[#scores + 1] = entry.score; scores[#scores + 1] = task
    else
      gone[#gone + 1] = task
    end
    if entry.slot then
      slots[#slots + 1] = task; slots[#slots + 1] = entry.slot
    elseif entry.slot == false then
      unslotted[#unslotted + 1] = task
    end
  end
  each('ZADD', KEYS[2], scores)
  each('ZREM', KEYS[2], gone)
  each('HSET', KEYS[3], slots)
  each('HDEL', KEYS[3], unslotted)
  for state, slot in pairs(fired_slot) do
    local fields = {'fired_at', fired_at, 'fired_slot', slot, 'fired_run_id', fired_run[state]}
    if fired_hwm[state] then -- not when only other slots than the schedule's fired
      fields[7], fields[8] = 'fired_hwm', fired_hwm[state]
    end
    redis.call('HSET', state, unpack(fields))
  end
  for stream, ids in pairs(acks) do
    for i = 1, #ids, 1000 do
      redis.call('XACK', stream, batch.group, unpack(ids, i, math.min(i + 999, #ids)))
    end
  end
  increments(batch.tally, tallied)
  -- The sum in whole ms, added with the buckets (no float to format, no count field:
  -- the buckets add up to it).
  if late_n > 0 then lates.sum_ms = late_ms end
  increments(batch.lateness, lates)
end

-- Run leases held per lease zset, counted once per call: pruned of expired leases and
-- counted at its first item, then kept by emit_one (the call is atomic, no one else
-- writes in between), so a run of items of one task costs two commands, not two each.
local held = {}
local function full(key, cap)
  if cap == nil or cap <= 0 then return false end
  local n = held[key]
  if n == nil then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', lease_now)
    n = redis.call('ZCARD', key)
    held[key] = n
  end
  return n >= cap
end

-- A run lease added to `key`: counted when the zset was (a new member only).
local function lease(key, expiry, run_id)
  local added = redis.call('ZADD', key, expiry, run_id)
  if held[key] ~= nil then held[key] = held[key] + added end
end

-- A schedule's slots (whole epoch ms) of one task are emitted in ascending order: the
-- next one is planned only once the pending one moved, in the call that emitted it. So
-- the state hash's fired_hwm, the highest one emitted, tells for them all whether one
-- was emitted before: no key per fire, nothing left to expire. Manual, emergency,
-- policy, dependency and retry slots (m…, e…/et…, p…, d…, …#a…) keep a fired marker
-- each, set NX with a TTL.
local hwms = {} -- state key -> the highest schedule slot emitted (false: none recorded)

-- Whether the schedule slot of `it` was emitted before. A task that has not fired since
-- fired_hwm exists has none: its marker, if an older version set one, answers.
local function fired_before(it, slot)
  local h = hwms[it.state]
  if h == nil then
    h = tonumber(redis.call('HGET', it.state, 'fired_hwm')) or false
    hwms[it.state] = h
  end
  if h then return slot <= h end
  return redis.call('EXISTS', it.fired) == 1
end

local function busy_code(it)
  local cap = it.max_instances
  if it.overlap == 'allow' then cap = 0 end
  if full(it.running, cap) then
    if it.overlap == 'queue' then return DEFERRED_OVERLAP end
    return SKIPPED_OVERLAP
  end
  if it.window_running and full(it.window_running, it.window_max) then
    return DEFERRED_WINDOW
  end
  return EMITTED
end

local function busy(it, code)
  if it.report_busy then return code end
  if code == SKIPPED_OVERLAP then
    advance_item(it)
  elseif it.defer_at then
    schedule(it.task, it.defer_at, it.slot)
  end
  return decide(it, code)
end

local function duplicate(it)
  advance_item(it)
  ack(it)
  return DUPLICATE
end

local function emit_one(it)
  local code = busy_code(it)
  local slot = slot_ms
  if slot then
    if fired_before(it, slot) then return duplicate(it) end
    if code ~= EMITTED then return busy(it, code) end
    hwms[it.state], fired_hwm[it.state] = slot, it.slot
  else
    if code ~= EMITTED and redis.call('EXISTS', it.fired) == 0 then
      return busy(it, code)
    end
    -- The marker is set NX: its reply says whether this occurrence fired before.
    if not redis.call('SET', it.fired, '1', 'NX', 'PX', ARGV[2]) then
      return duplicate(it)
    end
  end
  ack(it)
  redis.call('XADD', it.stream, '*', 'type', ARGV[5], 'v', ARGV[6], 'body', it.body)
  late(it.due_ms)
  local expiry = expiries[it.lease_ms]
  if not expiry then
    expiry = tostring(lease_now + it.lease_ms)
    expiries[it.lease_ms] = expiry
  end
  lease(it.running, expiry, it.run_id)
  if it.window_running then lease(it.window_running, expiry, it.run_id) end
  fired_slot[it.state], fired_run[it.state] = it.slot, it.run_id
  advance_item(it)
  return decide(it, EMITTED)
end

for _, m in ipairs(batch.moves) do advance(m.task, m) end
for _, d in ipairs(batch.decisions) do
  record(d.key, d.fields)
  tally(d.tally)
end
local out, pos = {}, 1
for i = 1, batch.count do
  pos = load_item(batch.items, pos)
  out[i] = emit_one(it)
end
flush()
local listed = tonumber(ARGV[8] or '0')
if listed > 0 then
  return {out, ahead(KEYS[2], KEYS[3], KEYS[4], string.format('%.3f', now / 1000), listed)}
end
return out
