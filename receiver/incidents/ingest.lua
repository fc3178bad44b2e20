-- Atomic ingest of a batch of POSTs: dedup, group, open/raise/resolve, timeline,
-- outbox, stats, one POST after the other, in one step (receiver.incidents.store
-- batches the POSTs a receiver process has in hand: one script run for all).
-- ARGV[1]: JSON list, per POST, of how many ARGV entries it takes; then each POST's
-- entries: its request (receiver.incidents.codec.ingest_request), then the
-- decisions' and alerts' JSON it names by index (1 = the request).
-- Returns: JSON list, per POST, of {id, result, changed, duplicates, generation} per group.
local P = 'triaged:'
local SHADOW_KEPT = 10000  -- receiver.incidents.history.SHADOW_KEPT
-- the received history of this run (see keep), and its settings (req.history)
local kept = {}
local history = nil
local clock = redis.call('TIME')
-- due times are kept by Redis's clock, the one clock of the system
local redis_now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local function ingest_one(arg)
  local req = cjson.decode(arg(1))
  -- each distinct decision comes once; an alert or a group's open names its own by
  -- index (d): copy its fields (rank, severity, why, probes, first_page_delay, and
  -- decision: its JSON, an argument index)
  local function decided(t)
    for k, v in pairs(req.decisions[t.d]) do t[k] = v end
    t.decision = arg(t.decision)
  end
  for _, g in ipairs(req.groups) do
    for _, a in ipairs(g.alerts) do
      decided(a)
      a.json = arg(a.json)
    end
    if g.open ~= cjson.null then decided(g.open) end
  end
  local now = req.now

  -- new work for an incident (opened, or re-graded): diagnose it (when the decision
  -- has probes) and page its first step, at once or when the diagnosis budget ends
  local function plan(id, gen, decided)
    local first = 'page:' .. id .. ':' .. gen .. ':0:0'
    if decided.probes then
      redis.call('ZADD', P .. 'outbox', req.now_ts, 'diagnose:' .. id .. ':' .. gen)
    end
    redis.call('ZADD', P .. 'due', 'NX', redis_now + decided.first_page_delay, first)
    redis.call('ZADD', P .. 'outbox', req.now_ts, first)
    -- wake an auditor blocked on this list (one token is enough)
    redis.call('LPUSH', P .. 'wake', '1')
    redis.call('LTRIM', P .. 'wake', 0, 0)
  end

  local function tl(id, kind, detail)
    redis.call('RPUSH', P .. 'incident:' .. id .. ':timeline',
      cjson.encode({at = now, kind = kind, detail = detail}))
  end

  local function stat(incs)
    for _, p in ipairs(incs) do redis.call('HINCRBYFLOAT', P .. 'stats', p[1], p[2]) end
  end

  -- an alert stored new or changed: into this run's received history (for replay:
  -- [incident, source, fingerprint, status, labels, verdict], one stream entry per
  -- run); with shadow rules, their counts, and where their verdict differs, the
  -- shadow record (receiver.incidents.history)
  local function keep(id, g, a)
    if a.h then
      history = req.history
      kept[#kept + 1] = '["' .. id .. '",' .. arg(a.h) .. ',' .. a.verdict .. ']'
    end
    if a.ss then
      stat(a.ss)
      if a.sv then
        redis.call('XADD', P .. 'shadow', 'MAXLEN', '~', SHADOW_KEPT, '*', 'source', g.source,
          'incident', id, 'verdict', a.verdict, 'shadow', a.sv, 'alert', a.json)
      end
    end
  end

  -- true when every firing alert of the group is already recorded, unchanged, in incident id
  local function all_known(id, g)
    local akey = P .. 'incident:' .. id .. ':alerts'
    for _, a in ipairs(g.alerts) do
      if a.status == 'firing' then
        local prev = redis.call('HGET', akey, a.fp)
        if not prev then return false end
        local p = cjson.decode(prev)
        if p.starts_at ~= a.starts_at then return false end
      end
    end
    return true
  end

  stat(req.stats)
  local out = {}
  for _, g in ipairs(req.groups) do
    local gkey = P .. 'group:' .. g.gid
    local res = {id = '', result = 'ignored', changed = 0, duplicates = 0, generation = 0}
    local id = redis.call('GET', gkey)
    if id then
      local st = redis.call('HGET', P .. 'incident:' .. id, 'status')
      if not st then
        id = false
      elseif st == 'resolved' then
        if g.open ~= cjson.null and all_known(id, g) then
          res.result = 'duplicate'
          res.id = id
          res.duplicates = #g.alerts
        end
        id = false
      end
    end
    if (not id) and res.result == 'ignored' and g.open ~= cjson.null then
      id = g.candidate_id
      local o = g.open
      redis.call('HSET', P .. 'incident:' .. id, 'id', id, 'status', 'open',
        'severity', o.severity, 'rank', o.rank, 'summary', o.summary, 'labels', g.labels_json,
        'source', g.source, 'group_key', g.group_key, 'created_at', now,
        'created_ts', redis_now, 'updated_at', now, 'generation', 1, 'decision', o.decision)
      redis.call('SET', gkey, id)
      redis.call('ZADD', P .. 'incidents', req.now_ts, id)
      tl(id, 'opened', o.severity .. ': ' .. o.why)
      stat(o.stats)
      plan(id, 1, o)
      res.result = 'created'
    end
    if id then
      local ikey = P .. 'incident:' .. id
      local akey = P .. 'incident:' .. id .. ':alerts'
      local rank = tonumber(redis.call('HGET', ikey, 'rank'))
      local raised = nil
      local resolves = 0
      for _, a in ipairs(g.alerts) do
        local prev = redis.call('HGET', akey, a.fp)
        local same = false
        if prev then
          local p = cjson.decode(prev)
          same = (p.status == a.status and p.starts_at == a.starts_at)
        end
        if same then
          res.duplicates = res.duplicates + 1
        else
          redis.call('HSET', akey, a.fp, a.json)
          keep(id, g, a)
          tl(id, 'alert_' .. a.status, a.summary)
          res.changed = res.changed + 1
          if a.status == 'resolved' then resolves = resolves + 1 end
          if a.status == 'firing' and a.rank < rank then
            rank = a.rank
            raised = a
          end
        end
      end
      if res.result ~= 'created' then
        if res.changed == 0 then res.result = 'duplicate' else res.result = 'updated' end
        local status = redis.call('HGET', ikey, 'status')
        if raised and status ~= 'resolved' then
          local old = redis.call('HGET', ikey, 'severity')
          local gen = redis.call('HINCRBY', ikey, 'generation', 1)
          redis.call('HSET', ikey, 'severity', raised.severity, 'rank', raised.rank,
            'decision', raised.decision)
          if status == 'open' then
            tl(id, 'severity_raised', old .. ' -> ' .. raised.severity .. ': ' .. raised.why ..
              '; escalation re-planned')
            plan(id, gen, raised)
          else
            -- somebody already responds: tell the timeline, page nobody again
            tl(id, 'severity_raised', old .. ' -> ' .. raised.severity .. ': ' .. raised.why ..
              '; already acknowledged, no new page')
          end
          res.result = 'raised'
        end
      end
      if res.changed > 0 then
        redis.call('HSET', ikey, 'updated_at', now)
        -- only a resolve can leave every alert resolved: skip the scan for firing news
        local all_resolved = false
        if resolves > 0 then
          all_resolved = true
          for _, v in ipairs(redis.call('HVALS', akey)) do
            if cjson.decode(v).status ~= 'resolved' then
              all_resolved = false
              break
            end
          end
        end
        if all_resolved and redis.call('HGET', ikey, 'status') ~= 'resolved' then
          redis.call('HSET', ikey, 'status', 'resolved', 'resolved_at', now)
          tl(id, 'resolved', 'every alert of the incident has resolved')
          if redis.call('SCARD', ikey .. ':mirrors') > 0 then
            local gen = redis.call('HGET', ikey, 'generation')
            redis.call('ZADD', P .. 'outbox', req.now_ts, 'mirror:' .. id .. ':' .. gen .. ':2:0')
            redis.call('LPUSH', P .. 'wake', '1')
            redis.call('LTRIM', P .. 'wake', 0, 0)
          end
          res.result = 'resolved'
        end
      end
      if req.truncated > 0 and res.changed > 0 then
        tl(id, 'alerts_truncated', 'the sender left ' .. req.truncated ..
          ' alerts out of this notification (its max_alerts); they are not stored')
      end
      res.id = id
      res.generation = tonumber(redis.call('HGET', ikey, 'generation'))
    end
    table.insert(out, res)
  end
  return out
end

-- the run's received alerts as one stream entry; then the oldest entries go while
-- older than the retention or past the most kept (a few per run: runs add one)
local function keep_history()
  local key = P .. 'received'
  local count = tonumber(redis.call('GET', key .. ':count') or '0')
  if #kept > 0 then
    redis.call('XADD', key, '*', 'n', #kept, 'items', '[' .. table.concat(kept, ',') .. ']')
    count = count + #kept
  end
  local cutoff = (redis_now - history.retention) * 1000
  for _ = 1, 8 do
    local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
    if not oldest then
      count = 0
      break
    end
    local ms = tonumber(string.match(oldest[1], '^(%d+)'))
    if ms >= cutoff and count <= history.max then break end
    redis.call('XDEL', key, oldest[1])
    count = count - ((oldest[2][1] == 'n' and tonumber(oldest[2][2])) or 1)
  end
  redis.call('SET', key .. ':count', math.max(count, 0))
end

local results = {}
local base = 1
for _, n in ipairs(cjson.decode(ARGV[1])) do
  local offset = base
  results[#results + 1] = ingest_one(function(i) return ARGV[offset + i] end)
  base = base + n
end
if history then keep_history() end
return cjson.encode(results)
