-- What is due next (a library chunk: schedule_head.lua and schedule_emit.lua include it).
-- ahead(next_key, slots_key, retries_key, now_s, listed): the earliest next fire or retry
-- `head` (score text, exact), `bound` = max(head, now_s), how many entries of both zsets
-- are due by `bound`, and, when there are at most `listed` of each kind, the entries
-- themselves: {task, pending slot or false, ...} and {retry member, ...}.
-- Returns false when both zsets are empty, else {head, bound, count [, due, retries]}.
local function ahead(next_key, slots_key, retries_key, now_s, listed)
  -- Numbers passed to redis.call are formatted with %.17g on every call: pass text.
  local a = redis.call('ZRANGE', next_key, '0', '1', 'WITHSCORES')
  local b = redis.call('ZRANGE', retries_key, '0', '0', 'WITHSCORES')
  local head = a[2]
  if b[2] and (not head or tonumber(b[2]) < tonumber(head)) then head = b[2] end
  if not head then return false end
  local bound = head
  if tonumber(now_s) > tonumber(head) then bound = now_s end
  local limit = tonumber(listed)
  -- The head's first two entries tell whether more than one is due (rarely): read the
  -- ranges only then.
  local names, retried = {}, {}
  if a[2] and tonumber(a[2]) <= tonumber(bound) then
    if a[4] and tonumber(a[4]) <= tonumber(bound) then
      names = redis.call('ZRANGEBYSCORE', next_key, '-inf', bound, 'LIMIT', '0', tostring(limit + 1))
    else
      names = {a[1]}
    end
  end
  if b[2] and tonumber(b[2]) <= tonumber(bound) then
    retried = redis.call('ZRANGEBYSCORE', retries_key, '-inf', bound, 'LIMIT', '0', tostring(limit + 1))
  end
  if #names > limit or #retried > limit then
    return {head, bound, redis.call('ZCOUNT', next_key, '-inf', bound) +
      redis.call('ZCOUNT', retries_key, '-inf', bound)}
  end
  local due = {}
  for i, name in ipairs(names) do
    due[2 * i - 1] = name
    due[2 * i] = redis.call('HGET', slots_key, name)
  end
  return {head, bound, #names + #retried, due, retried}
end
