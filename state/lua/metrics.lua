-- One batch's metrics in one call (the catalog agent's; the event batches put theirs in
-- commit.lua): counters, the worker's info, served items (HyperLogLog).
local p = ARGV[1]
local d = cjson.decode(ARGV[2])
for _, c in ipairs(d['i']) do redis.call('HINCRBY', p .. c[1], c[2], c[3]) end
for _, c in ipairs(d['f']) do
  redis.call('HINCRBYFLOAT', p .. c[1], c[2], string.format('%.17g', c[3]))
end
redis.call('HSET', p .. 'workers', d['w'][1], d['w'][2])
local s = d['s']
for j = 1, #s, 1000 do redis.call('PFADD', p .. 'served', unpack(s, j, math.min(j + 999, #s))) end
return 0
