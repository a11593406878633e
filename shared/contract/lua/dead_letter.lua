-- Move one entry to the dead-letter stream: record first, then ack, then count.
-- A failing XADD aborts the script before the XACK, so a rejected entry is never
-- acked without its dead-letter record (MULTI/EXEC would run the XACK anyway).
-- KEYS[1] = dead stream, KEYS[2] = source stream, KEYS[3] = counter hash.
-- ARGV[1] = group, ARGV[2] = entry id, ARGV[3] = reader, ARGV[4] = maxlen,
-- ARGV[5..] = field/value pairs of the dead-letter record.
-- Written only while the entry is pending in the group: a call the client retried after
-- a lost reply (or a second reader of the same entry) finds it acked and writes nothing,
-- so one rejected entry is one record and one count. Returns 1 when written, else 0.
if #redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then
  return 0
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
return 1
