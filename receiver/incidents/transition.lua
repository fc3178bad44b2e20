-- Acknowledge or resolve an incident by hand.
-- ARGV: incident id, action ('ack' | 'resolve'), by, note, now (ISO 8601)
-- Returns 'ok', 'not_found', or the status that forbids the action.
local id, action, by, note, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ikey = 'triaged:incident:' .. id
local st = redis.call('HGET', ikey, 'status')
if not st then return 'not_found' end
-- PagerDuty / Opsgenie channels that paged this incident hear about it (workers.jobs.mirror)
local function mirror(code)
  if redis.call('SCARD', ikey .. ':mirrors') > 0 then
    local gen = redis.call('HGET', ikey, 'generation') or '1'
    redis.call('ZADD', 'triaged:outbox', 0, 'mirror:' .. id .. ':' .. gen .. ':' .. code .. ':0')
    redis.call('LPUSH', 'triaged:wake', '1')
    redis.call('LTRIM', 'triaged:wake', 0, 0)
  end
end
local detail = 'by ' .. by
if note ~= '' then detail = detail .. ': ' .. note end
if action == 'ack' then
  if st ~= 'open' then return st end
  redis.call('HSET', ikey, 'status', 'acknowledged', 'acknowledged_by', by,
    'acknowledged_at', now, 'updated_at', now)
  redis.call('RPUSH', ikey .. ':timeline',
    cjson.encode({at = now, kind = 'acknowledged', detail = detail .. '; pending escalation steps stopped'}))
  mirror(1)
  return 'ok'
end
if st == 'resolved' then return st end
redis.call('HSET', ikey, 'status', 'resolved', 'resolved_at', now, 'updated_at', now)
redis.call('RPUSH', ikey .. ':timeline', cjson.encode({at = now, kind = 'resolved', detail = detail}))
mirror(2)
return 'ok'
