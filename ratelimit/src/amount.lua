-- One decision on a bucket of amounts (LLM tokens, millionths of a dollar), atomic inside
-- Redis; gateway/src/model/ai/budget.rs states the same rule for the in-memory buckets (keep
-- the two the same). KEYS[1]: the bucket, a hash {b = balance (may be below zero), f = last
-- fill in microseconds}. ARGV: max, perFill, fillInterval in microseconds, mode (0: take
-- ARGV[5] if the balance holds min(ARGV[5], max); 1: charge ARGV[5], a signed amount).
-- Returns {allowed (0|1), microseconds until the balance would hold the amount (0 when
-- allowed)}. The clock is Redis's own TIME.
if redis.replicate_commands then redis.replicate_commands() end
local max = tonumber(ARGV[1])
local per_fill = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local mode = tonumber(ARGV[4])
local amount = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local balance = max
local last = now
local saved = redis.call('HMGET', KEYS[1], 'b', 'f')
if saved[1] and saved[2] then
  balance = math.min(tonumber(saved[1]) or max, max)
  last = math.min(tonumber(saved[2]) or now, now)
end
if balance < max then
  local fills = math.floor((now - last) / interval)
  if fills > 0 then
    balance = math.min(max, balance + fills * per_fill)
    last = last + fills * interval
  end
end
if balance >= max then
  balance = max
  last = now
end
local allowed = 1
local wait = 0
if mode == 0 then
  local need = math.min(amount, max)
  if balance >= need then
    balance = balance - amount
  else
    allowed = 0
    wait = last + math.ceil((need - balance) / per_fill) * interval - now
    if wait < 1000 then wait = 1000 end
  end
else
  balance = math.min(max, balance - amount)
end
local ttl = 1000
if balance < max then
  ttl = math.ceil((last + math.ceil((max - balance) / per_fill) * interval - now) / 1000) + 1000
end
redis.call('HSET', KEYS[1], 'b', string.format('%.0f', balance), 'f', string.format('%.0f', last))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.min(ttl, 1e12)))
return {allowed, wait}
