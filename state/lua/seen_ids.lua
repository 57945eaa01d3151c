-- Which event ids a partition applied recently: ARGV[1] prefix, ARGV[2] JSON
-- [[field, [id, ...]], ...]; returns the duplicates as flat (group, position) pairs,
-- 1-based (usually none: a short reply is what keeps this cheap for the worker).
local p = ARGV[1]
local out = {}
for g, group in ipairs(cjson.decode(ARGV[2])) do
  local key = p .. 'ids:' .. group[1]
  for n, id in ipairs(group[2]) do
    if redis.call('ZSCORE', key, id) then out[#out + 1] = g; out[#out + 1] = n end
  end
end
return out
