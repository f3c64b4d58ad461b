//! The Lua scripts shared mode runs in Redis: each one change made atomically, with its entry
//! on the feed stream in the same step, so every instance applies the same changes in the
//! same order.
//!
//! Keys, all under `hookpit:`: `run` (this data set's run id), `id` (the request id sequence),
//! `ev` (the sequence of non-request feed entries), `feed` (the feed stream, trimmed to a
//! window), `bins` (a sorted set: bin → its last request id, the least recently used first),
//! `cfg` (a hash: bin → config JSON), `bin:{name}` (a hash: `pos`, `draws`, `evicted`,
//! `created`), `req:{name}` (the bin's requests, a stream with one entry per request whose id is
//! `<request id>-0`), `upd:{name}` (a hash: request id → its head after an update) and
//! `format` (the format of all of these, see [`FORMAT`]).
//!
//! A feed entry naming requests has the id `<its last request id>-0`; any other entry `<last
//! request id>-<n>` with `n` from `ev`, so entry ids rise with request ids. Every script first
//! checks the run id it was given: an instance that has not seen Redis restart empty gets
//! `STALE` and resyncs before it writes again. Used by `shared` only.

/// The format of what shared mode keeps in Redis. 2: the feed names a batch's requests in one
/// entry, and a response keeps the placeholder it was rendered with (`ph`). An instance meeting
/// another format in Redis refuses to start (every instance on one Redis runs one version).
pub const FORMAT: &str = "2";

/// Takes a sequence step or a fault draw for a bin, before its response is decided.
/// KEYS: run, bin hash. ARGV: run id, sequence length, 1 when the bin has a fault rate, the
/// deadline (ms, Redis's clock) past which nothing is taken (its instance answered 503 by
/// then), the bin's config version the instance decides with (`OLDCONFIG` when Redis has
/// another).
/// Returns `{position before, draws before or -1}`.
pub const STEP: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('STALE run') end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[4]) then
  return redis.error_reply('LATE the request waited for Redis past its deadline')
end
if tonumber(redis.call('HGET', KEYS[2], 'ver') or '0') ~= tonumber(ARGV[5]) then
  return redis.error_reply('OLDCONFIG the bin has a newer config')
end
local pos = tonumber(redis.call('HGET', KEYS[2], 'pos') or '0')
if pos < tonumber(ARGV[2]) then
  redis.call('HINCRBY', KEYS[2], 'pos', 1)
  return {pos, -1}
end
if ARGV[3] == '1' then
  local d = redis.call('HINCRBY', KEYS[2], 'draws', 1)
  return {pos, d - 1}
end
return {pos, -1}
"#;

/// Keeps a batch of captured requests, in order: takes their ids (consecutive), appends each
/// request to its bin's stream (with its placeholder, `ph`, when its response was rendered with
/// one: readers put the id in its place), names them on the feed, trims each bin's ring to its
/// capacity once (counting what went), and evicts the least recently used bins past the bin
/// limit. The feed names a run of requests with consecutive ids in one entry (`k` = `R`, its id
/// `<last id>-0`): the capturing instance's token (`o`), how many (`n`) and one line per request
/// (`i`): its bin, its key (that instance has the request already), its bin's eviction count and
/// creation time (ms) and, after a sequence step, its position, separated by spaces. An
/// eviction between two requests of a batch ends a run. The feed keeps the entries of the last
/// `window` request ids (and at most `window` entries besides).
/// KEYS: run, id, ev, feed, bins, cfg, top (the feed's last entry id, kept by every script).
/// ARGV: run id, max bins, feed window, now (ms), token, n, the deadline (ms, Redis's clock: a
/// batch that waited in Redis past it keeps nothing, its instance answered 503 by then), then
/// 9 per request: bin, capacity, key, placeholder ('' for none), sequence position after (''
/// for none), h, b, rs, rb. Returns `{first id, the feed's last entry before the batch, 1 when
/// the batch added nothing to the feed but its requests, the lines of the batch's last feed
/// entry}`: the instance applies its own batch to its cache at once when that entry is the
/// last it applied.
pub fn capture() -> String {
    format!(
        "{EVICT}{}",
        r#"
local state = redis.call('MGET', KEYS[1], KEYS[7])
if state[1] ~= ARGV[1] then return redis.error_reply('STALE run') end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[7]) then
  return redis.error_reply('LATE the requests waited for Redis past their deadline')
end
local n = tonumber(ARGV[6])
local prev = state[2] or '0-0'
local clean = 1
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
local max = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local bins = {}
local order = {}
local tables = {}
-- the feed names the requests, one entry per run of consecutive ids (an eviction between two
-- requests ends a run); their bytes are in the bins' streams only
local items = {}
local named = ''
local function flush(upto)
  if #items == 0 then return end
  named = table.concat(items, '\n')
  redis.call('XADD', KEYS[4], 'MINID', '~', math.max(upto - window, 0),
    upto, 'k', 'R', 'o', ARGV[5], 'n', #items, 'i', named)
  items = {}
end
for i = 0, n - 1 do
  local a = 7 + i * 9
  local bin = ARGV[a + 1]
  local cap = tonumber(ARGV[a + 2])
  -- the entry's id given as a number: Redis writes an integer as one (`<id>-0`)
  local id = first + i
  local b = bins[bin]
  if b == nil then
    local stream = 'hookpit:req:' .. bin
    local binh = 'hookpit:bin:' .. bin
    if redis.call('ZADD', KEYS[5], last, bin) == 1 then
      redis.call('HSETNX', binh, 'created', ARGV[4])
      -- as in memory: the bins before this request are fair game, earlier ones of this batch too
      evict_bins(KEYS[5], KEYS[6], max, {[bin] = true}, function(old)
        clean = 0
        local dead = bins[old]
        if type(dead) == 'table' then dead.dead = true end
        bins[old] = nil
        flush(id - 1)
        local e = redis.call('INCR', KEYS[3])
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', window, string.format('%d-%d', id - 1, e),
          'k', 'x', 'bin', old, 'why', 'evicted')
      end)
    end
    local known = redis.call('HMGET', binh, 'evicted', 'created')
    -- the parts of its requests' lines that stay the same, made once (numbers are formatted
    -- only when they change)
    b = {len = redis.call('XLEN', stream), ev = tonumber(known[1] or '0'), gone = 0, cap = cap,
         stream = stream, lead = bin .. ' ', tail = ' ' .. (known[2] or ARGV[4]), shown = -1,
         evs = ''}
    bins[bin] = b
    order[#order + 1] = bin
    tables[#tables + 1] = b
  end
  -- a response rendered with a placeholder keeps it: readers put the id in its place
  if ARGV[a + 4] ~= '' then
    redis.call('XADD', b.stream, id, 'h', ARGV[a + 6], 'b', ARGV[a + 7], 'rs', ARGV[a + 8],
      'rb', ARGV[a + 9], 'ph', ARGV[a + 4])
  else
    redis.call('XADD', b.stream, id, 'h', ARGV[a + 6], 'b', ARGV[a + 7], 'rs', ARGV[a + 8],
      'rb', ARGV[a + 9])
  end
  b.len = b.len + 1
  b.cap = cap
  if b.len > cap then
    b.gone = b.gone + (b.len - cap)
    b.len = cap
  end
  local ev = b.ev + b.gone
  if ev ~= b.shown then
    b.shown = ev
    b.evs = string.format(' %d', ev)
  end
  local sp = ARGV[a + 5]
  if sp ~= '' then
    items[#items + 1] = b.lead .. ARGV[a + 3] .. b.evs .. b.tail .. ' ' .. sp
  else
    items[#items + 1] = b.lead .. ARGV[a + 3] .. b.evs .. b.tail
  end
end
flush(last)
for i, bin in ipairs(order) do
  local b = tables[i]
  if not b.dead and b.gone > 0 then
    local stream = b.stream
    local upd = 'hookpit:upd:' .. bin
    if redis.call('EXISTS', upd) == 1 then
      for _, e in ipairs(redis.call('XRANGE', stream, '-', '+', 'COUNT', b.gone)) do
        redis.call('HDEL', upd, string.match(e[1], '^(%d+)'))
      end
    end
    redis.call('XTRIM', stream, 'MAXLEN', b.cap)
    redis.call('HINCRBY', 'hookpit:bin:' .. bin, 'evicted', b.gone)
  end
end
redis.call('SET', KEYS[7], string.format('%d-0', last))
return {first, prev, clean, named}
"#
    )
}

/// Evicts bins past the bin limit as the memory store does: the least recently used nobody
/// configured first (of the 256 least recently used), else the least recently used; never one
/// in `spared`. `gone` is told each bin evicted.
const EVICT: &str = r#"
local function evict_bins(bins_key, cfg_key, max, spared, gone)
  while redis.call('ZCARD', bins_key) > max do
    local lru = redis.call('ZRANGE', bins_key, 0, 255)
    local victim = nil
    for _, name in ipairs(lru) do
      if not spared[name] then
        local c = redis.call('HGET', cfg_key, name)
        if c == false or c == '{}' then
          victim = name
          break
        end
      end
    end
    if victim == nil then
      for _, name in ipairs(lru) do
        if not spared[name] then
          victim = name
          break
        end
      end
    end
    if victim == nil then return end
    redis.call('ZREM', bins_key, victim)
    redis.call('DEL', 'hookpit:req:' .. victim, 'hookpit:bin:' .. victim, 'hookpit:upd:' .. victim)
    redis.call('HDEL', cfg_key, victim)
    gone(victim)
  end
end
"#;

/// Appends a non-request entry to the feed. KEYS: run, id, ev, feed. ARGV: run id, window,
/// then the entry's fields and values. Used inside the scripts below (as a prelude).
const FEED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('STALE run') end
local function feed(...)
  local last = tonumber(redis.call('GET', KEYS[2]) or '0')
  local n = redis.call('INCR', KEYS[3])
  local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', tonumber(ARGV[2]), last .. '-' .. n, ...)
  redis.call('SET', 'hookpit:top', id)
  return id
end
"#;

/// Sets a bin's config (the sequence and fault generator start over; the ring is trimmed to
/// the new capacity). KEYS: run, id, ev, feed, bins, cfg. ARGV: run id, window, bin, config
/// JSON, capacity, now (ms), max bins.
pub fn configure() -> String {
    format!(
        "{FEED}{EVICT}{}",
        r#"
local bin = ARGV[3]
local binh = 'hookpit:bin:' .. bin
redis.call('HSET', KEYS[6], bin, ARGV[4])
redis.call('HSET', binh, 'pos', 0, 'draws', 0)
local ver = redis.call('HINCRBY', binh, 'ver', 1)
redis.call('HSETNX', binh, 'created', ARGV[6])
redis.call('ZADD', KEYS[5], tonumber(redis.call('GET', KEYS[2]) or '0'), bin)
evict_bins(KEYS[5], KEYS[6], tonumber(ARGV[7]), {[bin] = true}, function(old)
  feed('k', 'x', 'bin', old, 'why', 'evicted')
end)
local stream = 'hookpit:req:' .. bin
local cap = tonumber(ARGV[5])
local len = redis.call('XLEN', stream)
if len > cap then
  redis.call('XTRIM', stream, 'MAXLEN', cap)
  redis.call('HINCRBY', binh, 'evicted', len - cap)
end
return feed('k', 'cfg', 'bin', bin, 'cfg', ARGV[4], 'c', redis.call('HGET', binh, 'created'),
  'v', ver)
"#
    )
}

/// Deletes requests of a bin (a delete, or a clear: the ids it took).
/// KEYS: run, id, ev, feed. ARGV: run id, window, bin, kind (`d` or `c`), ids (comma
/// separated).
pub fn delete() -> String {
    format!(
        "{FEED}{}",
        r#"
local bin = ARGV[3]
local stream = 'hookpit:req:' .. bin
local upd = 'hookpit:upd:' .. bin
for rid in string.gmatch(ARGV[5], '%d+') do
  redis.call('XDEL', stream, rid .. '-0')
  redis.call('HDEL', upd, rid)
end
return feed('k', ARGV[4], 'bin', bin, 'ids', ARGV[5])
"#
    )
}

/// Deletes a bin with its requests and settings. KEYS: run, id, ev, feed, bins, cfg.
/// ARGV: run id, window, bin.
pub fn delete_bin() -> String {
    format!(
        "{FEED}{}",
        r#"
local bin = ARGV[3]
redis.call('ZREM', KEYS[5], bin)
redis.call('HDEL', KEYS[6], bin)
redis.call('DEL', 'hookpit:req:' .. bin, 'hookpit:bin:' .. bin, 'hookpit:upd:' .. bin)
return feed('k', 'x', 'bin', bin, 'why', 'deleted')
"#
    )
}

/// Keeps a request's changed head (a forward's result, a late signature diagnosis) while the
/// request is still kept. KEYS: run, id, ev, feed. ARGV: run id, window, bin, id, h.
pub fn update() -> String {
    format!(
        "{FEED}{}",
        r#"
local bin = ARGV[3]
local stream = 'hookpit:req:' .. bin
if #redis.call('XRANGE', stream, ARGV[4] .. '-0', ARGV[4] .. '-0') == 0 then return false end
redis.call('HSET', 'hookpit:upd:' .. bin, ARGV[4], ARGV[5])
return feed('k', 'u', 'bin', bin, 'id', ARGV[4], 'h', ARGV[5])
"#
    )
}

/// Names this data set's run, once: the first instance to find none (a new or emptied Redis)
/// makes it. Every instance that joins moves the id sequence past the ids it knows were given
/// out (the first to reach an emptied Redis may be one that knew none of them).
/// The data set's format (`format`) is written with its first run; an instance that writes
/// another format is refused (`FORMAT`, naming the one found) instead of misreading it.
/// KEYS: run, id, format. ARGV: a new run id, the highest id this instance knows, the format
/// this instance writes. Returns the run id.
pub const RUN: &str = r#"
local format = redis.call('GET', KEYS[3])
if format and format ~= ARGV[3] then
  return redis.error_reply('FORMAT ' .. format)
end
if not format then redis.call('SET', KEYS[3], ARGV[3]) end
local known = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') < known then
  redis.call('SET', KEYS[2], known)
end
local run = redis.call('GET', KEYS[1])
if run then return run end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"#;

/// Passes a delivery's view on to every instance's viewers. KEYS: run, id, ev, feed.
/// ARGV: run id, window, the sending instance's token, the view's JSON.
pub fn notice() -> String {
    format!(
        "{FEED}{}",
        r#"
return feed('k', 'n', 'from', ARGV[3], 'msg', ARGV[4])
"#
    )
}
