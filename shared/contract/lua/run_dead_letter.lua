-- Give up on a run delivered too often: its dead_lettered result, an alert and the
-- dead-letter record are written, then the entry is acked — all or nothing, and only
-- while this consumer owns the entry (so two reclaimers never alert twice).
-- KEYS[1] = due stream, KEYS[2] = results, KEYS[3] = alerts, KEYS[4] = dead stream,
-- KEYS[5] = counter hash.
-- ARGV[1] = group, ARGV[2] = entry id, ARGV[3] = consumer, ARGV[4] = dead maxlen,
-- ARGV[5] = n result items, ARGV[6] = n alert items, then the result, alert and
-- dead-letter field/value items in that order.
local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #owned == 0 then
  return 0
end
local n_result, n_alert = tonumber(ARGV[5]), tonumber(ARGV[6])
local first_alert = 7 + n_result
local first_dead = first_alert + n_alert
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 7, first_alert - 1))
redis.call('XADD', KEYS[3], '*', unpack(ARGV, first_alert, first_dead - 1))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, first_dead))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[5], ARGV[3], 1)
return 1
