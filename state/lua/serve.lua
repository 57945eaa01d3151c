-- Serving in one round trip (used only for a new user, or a list made before the newest
-- sell-out): the user's list and which of its items sold out since, or trending.
-- ARGV[1] prefix, ARGV[2] user, ARGV[3] how many trending, ARGV[4] clock skew (s).
local p = ARGV[1]
local oos = p .. 'oos'
local any_oos = redis.call('SCARD', oos) > 0
local raw = redis.call('GET', p .. 'rec:' .. ARGV[2])
if not raw then
  local t = redis.call('ZREVRANGE', p .. 'pop', 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
  if not any_oos then return {false, t} end
  local keep = {}
  for j = 1, #t, 2 do
    if redis.call('SISMEMBER', oos, t[j]) == 0 then
      keep[#keep + 1] = t[j]; keep[#keep + 1] = t[j + 1]
    end
  end
  return {false, keep}
end
-- only items sold out since the list was made can be in it (the worker leaves out what is
-- sold out when it ranks): usually none, and the list is returned as it is stored
local rec = cjson.decode(raw)
local made = tonumber(rec['generated_at'])     -- streams/schemas.py StoredList
local since = made and redis.call('ZRANGEBYSCORE', p .. 'oos_at', made - tonumber(ARGV[4]),
                                  '+inf') or {}
local gone = {}
if (not made and any_oos) or #since > 0 then
  local sold = {}
  for _, i in ipairs(since) do sold[i] = true end
  for i, it in ipairs(rec['items']) do
    local id = tostring(it['item_id'])
    if (made and sold[id]) or (not made and redis.call('SISMEMBER', oos, id) == 1) then
      gone[#gone + 1] = i
    end
  end
end
return {raw, gone}
