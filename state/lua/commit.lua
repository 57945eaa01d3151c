-- One batch of the worker, applied atomically: the script runs whole or not at all, so a
-- worker killed at any moment leaves either none or all of a batch's effects, and the
-- applied-offset watermarks in `wm` (field "topic:partition" -> next offset to apply) say
-- which. A replay skips what is below them (the worker reads them first), and a worker
-- whose watermarks are not those it read (another worker applied those offsets since: a
-- lost partition, a zombie) changes nothing: returns {0, field, current}.
--
-- ARGV[1] prefix; ARGV[2] JSON (fields below, each optional); ARGV[3] n, then n
-- (key, value) pairs SET as they are (user states, lists; keys without the prefix).
--   wm    [[field, expected (-1: none), next], ...] in hash wmk (default 'wm')
--   pop   [[item, ts], ...]                  trending, forward-decayed (half-life hl)
--   cv    [[item, [member, increment, ...]], ...] co-visitation rows (cap)
--   rw    [[impression id, kind, value], ...] experiment rewards
--   clk   [item, ...]                          item clicks (exploration arms)
--   imp   {e, window, rc, rp, l: [[id, variant, user], ...]} impressions of experiment e
--   shown [item, ...]                          item impressions (exploration arms)
--   m     {i: [[hash, field, n]], f: [[hash, field, x]], w: [worker, info], s: [item]}
--   ids   [[field, offset, event id], ...]    ids:{field} keeps the last idcap event ids
--   idem, wmi, done                           Redis Cluster only (state/cluster_store.py)
local p = ARGV[1]
local d = cjson.decode(ARGV[2])
local wmk = p .. (d['wmk'] or 'wm')   -- 'wm:pop' for trending, applied before ranking

for _, w in ipairs(d['wm'] or {}) do
  local cur = tonumber(redis.call('HGET', wmk, w[1]) or '-1')
  if d['idem'] then
    -- one slot's share of a batch on Redis Cluster (state/cluster_store.py): the batch
    -- was fenced in the global slot already; here it is applied unless it was before
    if cur >= w[3] then return {2} end
  elseif cur ~= w[2] then return {0, w[1], cur} end
end

local CHUNK = 1000   -- pairs per call: unpack() has a stack limit
local function fmt(x) return string.format('%.17g', x) end

-- every number is checked before anything is written: an error half-way through a script
-- would leave what it wrote before (Redis does not roll scripts back)
local function finite(x) return type(x) == 'number' and x == x and x > -math.huge and
                                x < math.huge end
local function bad(what) return redis.error_reply('streamrec commit: ' .. what) end
for _, ev in ipairs(d['pop'] or {}) do
  if not finite(ev[2]) then return bad('trending time of ' .. tostring(ev[1])) end
end
for _, r in ipairs(d['cv'] or {}) do
  for j = 2, #r[2], 2 do
    if not finite(r[2][j]) then return bad('co-visitation weight of ' .. tostring(r[1])) end
  end
end
for _, r in ipairs(d['rw'] or {}) do
  if not finite(r[3]) then return bad('reward value of ' .. tostring(r[1])) end
end
if d['pop'] and not finite(d['hl']) then return bad('half-life') end

-- trending
local pop = d['pop'] or {}
if #pop > 0 then
  local hl = d['hl']
  local popk = p .. 'pop'; local t0k = p .. 'pop:t0'
  local t0 = tonumber(redis.call('GET', t0k))
  for _, ev in ipairs(pop) do
    local item, ts = ev[1], ev[2]
    if not t0 then t0 = ts; redis.call('SET', t0k, string.format('%.6f', ts)) end
    if (ts - t0) / hl > 60 then
      -- every score x f in one command (a ZADD per item blocked Redis ~13 ms per rebase
      -- on a 10k-item catalog); the same double product as the in-memory store's
      redis.call('ZUNIONSTORE', popk, 1, popk, 'WEIGHTS', fmt(2 ^ ((t0 - ts) / hl)))
      t0 = ts; redis.call('SET', t0k, string.format('%.6f', ts))
    end
    redis.call('ZINCRBY', popk, fmt(2 ^ ((ts - t0) / hl)), item)
  end
end

-- co-visitation: rows of increments, summed per (row, member) by the writer
-- (state.batch.covisit_rows). Each row is read (ZMSCORE) and written (ZADD) in one call
-- per chunk rather than one ZINCRBY per member: the same sums in doubles, with a tenth of
-- the script's calls (each redis.call costs about as much as the increment itself).
-- Rows over twice the cap are trimmed to the cap.
local cvcap = d['cap']
for _, r in ipairs(d['cv'] or {}) do
  local key, m = p .. 'cv:' .. r[1], r[2]
  local n = #m / 2
  for a = 1, n, CHUNK do
    local b = math.min(n, a + CHUNK - 1)
    local names = {}
    for j = a, b do names[j - a + 1] = m[2 * j - 1] end
    local old = redis.call('ZMSCORE', key, unpack(names))
    local args = {}
    for j = a, b do
      local o = old[j - a + 1]
      args[#args + 1] = o and (tonumber(o) + m[2 * j]) or m[2 * j]
      args[#args + 1] = m[2 * j - 1]
    end
    redis.call('ZADD', key, unpack(args))
  end
  if redis.call('ZCARD', key) > 2 * cvcap then
    redis.call('ZREMRANGEBYRANK', key, 0, -(cvcap + 1))
  end
end

-- rewards of clicks and purchases on impressions still inside their window
for _, r in ipairs(d['rw'] or {}) do
  local raw = redis.call('GET', p .. 'imp:' .. r[1])
  if raw then
    local imp = cjson.decode(raw)
    local key = p .. 'expstats:' .. imp['experiment']
    local v = imp['variant']
    local kind, value = r[2], r[3]
    if kind == 'click' then value = imp['rc'] elseif imp['rp'] ~= 'value' then value = 1 end
    if kind == 'purchase' then
      redis.call('HINCRBY', key, v .. ':purchases', 1)
    else
      redis.call('HINCRBY', key, v .. ':clicks', 1)
    end
    redis.call('HINCRBYFLOAT', key, v .. ':reward', fmt(value))
    if redis.call('SET', p .. 'impok:' .. r[1], '1', 'NX', 'EX', imp['window']) then
      redis.call('HINCRBY', key, v .. ':successes', 1)
    end
  end
end
for _, item in ipairs(d['clk'] or {}) do redis.call('HINCRBY', p .. 'arm:s', item, 1) end

-- users forgotten on request (forget.lua) get nothing written: a batch that read them
-- before they were forgotten must not bring their state, list or impressions back
local forgotten = p .. 'forgotten'
local any_forgotten = redis.call('EXISTS', forgotten) == 1
local function kept(user)
  return not any_forgotten or redis.call('HEXISTS', forgotten, user) == 0
end

-- user states and lists
local n = tonumber(ARGV[3] or '0')
for j = 0, n - 1 do
  local key = ARGV[4 + 2 * j]
  local user = any_forgotten and (string.match(key, '^user:(.*)$') or
                                  string.match(key, '^rec:(.*)$'))
  if not user or kept(user) then redis.call('SET', p .. key, ARGV[5 + 2 * j]) end
end

-- impressions (ids are made from the offset of the event behind each list: a replayed
-- list counts once)
local imp = d['imp']
if imp then
  local stats = p .. 'expstats:' .. imp['e']
  for _, x in ipairs(imp['l']) do
    local body = cjson.encode({experiment = imp['e'], variant = x[2], user = x[3],
                               window = imp['window'], rc = imp['rc'], rp = imp['rp']})
    if kept(x[3]) and redis.call('SET', p .. 'imp:' .. x[1], body, 'NX', 'EX',
                                 imp['window']) then
      redis.call('HINCRBY', stats, x[2] .. ':impressions', 1)
    end
  end
end
for _, item in ipairs(d['shown'] or {}) do redis.call('HINCRBY', p .. 'arm:n', item, 1) end

-- metrics: counters, the worker's info, served items (a HyperLogLog; PFADD in chunks as
-- unpack() has a stack limit)
local m = d['m']
if m then
  for _, c in ipairs(m['i']) do redis.call('HINCRBY', p .. c[1], c[2], c[3]) end
  for _, c in ipairs(m['f']) do redis.call('HINCRBYFLOAT', p .. c[1], c[2], fmt(c[3])) end
  redis.call('HSET', p .. 'workers', m['w'][1], m['w'][2])
  local s = m['s']
  for j = 1, #s, 1000 do
    redis.call('PFADD', p .. 'served', unpack(s, j, math.min(j + 999, #s)))
  end
end

-- event ids of the partition's latest idcap events (a duplicate sent again is dropped)
local ids = d['ids'] or {}
if #ids > 0 then
  local cap, seen, order = d['idcap'], {}, {}
  for _, x in ipairs(ids) do                    -- per key, in order: (offset, id) pairs
    local key = p .. 'ids:' .. x[1]
    local a = seen[key]
    if not a then a = {}; seen[key] = a; order[#order + 1] = key end
    a[#a + 1] = x[2]; a[#a + 1] = x[3]
  end
  for _, key in ipairs(order) do
    local a = seen[key]
    for j = 1, #a, 2 * CHUNK do
      redis.call('ZADD', key, unpack(a, j, math.min(j + 2 * CHUNK - 1, #a)))
    end
  end
  for key in pairs(seen) do
    if redis.call('ZCARD', key) > cap + cap / 10 then
      redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1))
    end
  end
end

for _, w in ipairs(d['wm'] or {}) do redis.call('HSET', wmk, w[1], w[3]) end
-- Redis Cluster: the batch's intent (its other slots' shares, a key of ARGV[3]'s) is
-- named in `wmi` per partition until its writer's next batch drops it (cluster_store.py)
if d['wmi'] then
  for _, w in ipairs(d['wm'] or {}) do redis.call('HSET', p .. 'wmi', w[1], d['wmi']) end
end
if d['done'] then redis.call('DEL', p .. 'intent:' .. d['done']) end
return {1}
