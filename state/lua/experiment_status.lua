-- Move an experiment to a new status atomically: a stopped experiment stays stopped (a
-- stop racing a resume ends stopped, whichever lands first).
-- ARGV[1] prefix, ARGV[2] name, ARGV[3] target status.
-- Returns {1, json} when set, {0, 'stopped'} when refused, {-1} when there is none.
local key = ARGV[1] .. 'exp:' .. ARGV[2]
local raw = redis.call('GET', key)
if not raw then return {-1} end
local current = string.match(raw, '"status":"(%a+)"')
if current == 'stopped' and ARGV[3] ~= 'stopped' then return {0, current} end
local new = string.gsub(raw, '"status":"%a+"', '"status":"' .. ARGV[3] .. '"', 1)
redis.call('SET', key, new)
return {1, new}
