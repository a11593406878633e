-- When the scheduler must next look, how much is due by then and, when that is little,
-- what (one round trip; schedule_emit.lua answers the same after its writes).
-- KEYS[1] = next-fire zset, KEYS[2] = pending-slot hash, KEYS[3] = retry zset.
-- ARGV[1] = now (epoch seconds), ARGV[2] = most entries of each kind listed.
-- Returns the reply of ahead() (schedule_ahead.lua).
--#include schedule_ahead
return ahead(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
