-- Forget one user (DELETE /users/{id}): mark it in `forgotten`, so that no batch writes
-- anything for it from now on (commit.lua checks the mark, atomically with its writes),
-- bump `forgotten:v` for the workers' caches, and delete the user's own keys.
-- Impressions (`imp:{id}`, `impok:{id}`) are found by the caller after this script runs
-- (a SCAN: no new ones can appear once the mark is set) and passed to a second call.
--
-- ARGV[1] prefix; ARGV[2] user; ARGV[3] when (seconds); ARGV[4..] further keys to delete
-- (without the prefix). Returns the keys deleted (without the prefix).
local p, user = ARGV[1], ARGV[2]
if ARGV[3] ~= '' then
  redis.call('HSET', p .. 'forgotten', user, ARGV[3])
  redis.call('INCR', p .. 'forgotten:v')
end
local removed = {}
local keys = {'user:' .. user, 'rec:' .. user}
for j = 4, #ARGV do keys[#keys + 1] = ARGV[j] end
for _, k in ipairs(keys) do
  if redis.call('DEL', p .. k) == 1 then removed[#removed + 1] = k end
end
return removed
