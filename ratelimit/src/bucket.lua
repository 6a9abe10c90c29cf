-- One token-bucket decision, atomic inside Redis (src/bucket.rs states the rule; keep the two
-- the same). KEYS[1]: the bucket, a hash {t = tokens, f = last fill in microseconds}.
-- ARGV: maxTokens, tokensPerFill, fillInterval in microseconds.
-- Returns {allowed (0|1), tokens left, microseconds until the next fill (0 when full)}.
-- The clock is Redis's own TIME, never a replica's: replicas' clocks disagree.
if redis.replicate_commands then redis.replicate_commands() end
local max = tonumber(ARGV[1])
local per_fill = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tokens = max
local last = now
local saved = redis.call('HMGET', KEYS[1], 't', 'f')
if saved[1] and saved[2] then
  tokens = math.min(tonumber(saved[1]) or max, max)
  -- Redis's clock went back (failover to a replica): no fill is due, and no wait grows.
  last = math.min(tonumber(saved[2]) or now, now)
end
if tokens < max then
  local fills = math.floor((now - last) / interval)
  if fills > 0 then
    tokens = math.min(max, tokens + fills * per_fill)
    last = last + fills * interval
  end
end
if tokens >= max then
  tokens = max
  last = now
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local next_fill = 0
local ttl = 1000
if tokens < max then
  next_fill = last + interval - now
  -- Kept until it would be full again (then absent and full are the same), plus a second.
  ttl = math.ceil((last + math.ceil((max - tokens) / per_fill) * interval - now) / 1000) + 1000
end
-- string.format: Lua would print large numbers in exponent form, which Redis refuses.
redis.call('HSET', KEYS[1], 't', string.format('%.0f', tokens), 'f', string.format('%.0f', last))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.min(ttl, 1e12)))
return {allowed, tokens, next_fill}
