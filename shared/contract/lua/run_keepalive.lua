-- Keep this consumer's in-flight entries from looking idle: re-claim each one it still
-- owns (JUSTID: the delivery count is not raised). Entries another consumer took over
-- are left alone and reported, so a paused executor never steals its work back.
-- KEYS[1] = due stream. ARGV[1] = group, ARGV[2] = consumer, ARGV[3..] = entry ids.
-- Returns the ids this consumer no longer owns.
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  if #owned == 0 then
    lost[#lost + 1] = id
  else
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
  end
end
return lost
