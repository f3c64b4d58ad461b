//! The Lua scripts shared mode runs in Redis: each one change made atomically, with its entry
//! on the feed stream in the same step, so every instance applies the same changes in the
//! same order.
//!
//! Keys, all under `hookpit:`: `run` (this data set's run id), `id` (the request id sequence),
//! `ev` (the sequence of non-request feed entries), `feed` (the feed stream, trimmed to a
//! window), `bins` (a sorted set: bin → its last request id, the least recently used first),
//! `cfg` (a hash: bin → config JSON), `bin:{name}` (a hash: `pos`, `draws`, `evicted`,
//! `created`), `req:{name}` (the bin's requests, a stream with one entry per request whose id is
//! `<request id>-0`) and `upd:{name}` (a hash: request id → its head after an update).
//!
//! A request's feed entry has the id `<request id>-0`; any other entry `<last request id>-<n>`
//! with `n` from `ev`, so entry ids rise with request ids. Every script first checks the run
//! id it was given: an instance that has not seen Redis restart empty gets `STALE` and
//! resyncs before it writes again. Used by `shared` only.

/// Takes a sequence step or a fault draw for a bin, before its response is decided.
/// KEYS: run, bin hash. ARGV: run id, sequence length, 1 when the bin has a fault rate.
/// Returns `{position before, draws before or -1}`.
pub const STEP: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('STALE run') end
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

/// Keeps a captured request: takes its id, puts the id in place of the placeholder its
/// response was rendered with, appends it to its bin's stream (trimmed to the bin's capacity,
/// the evicted counted) and to the feed, and evicts the least recently used bin past the
/// bin limit; the feed entry carries the bin's eviction count (`e`) and, after a sequence
/// step, its position (`sp`). KEYS: run, id, ev, feed, bins, cfg. ARGV: run id, bin, capacity, max bins,
/// feed window, placeholder ('' for none), now (ms), sequence position after ('' for none),
/// h, b, rs, rb. Returns the id.
pub const CAPTURE: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('STALE run') end
local bin = ARGV[2]
local id = redis.call('INCR', KEYS[2])
local rs, rb = ARGV[11], ARGV[12]
if ARGV[6] ~= '' then
  rs = string.gsub(rs, ARGV[6], tostring(id))
  rb = string.gsub(rb, ARGV[6], tostring(id))
end
local binh = 'hookpit:bin:' .. bin
local stream = 'hookpit:req:' .. bin
local window = tonumber(ARGV[5])
if redis.call('ZADD', KEYS[5], id, bin) == 1 then
  redis.call('HSETNX', binh, 'created', ARGV[7])
  local max = tonumber(ARGV[4])
  while redis.call('ZCARD', KEYS[5]) > max do
    local old = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
    if old == nil or old == bin then break end
    redis.call('ZREM', KEYS[5], old)
    redis.call('DEL', 'hookpit:req:' .. old, 'hookpit:bin:' .. old, 'hookpit:upd:' .. old)
    redis.call('HDEL', KEYS[6], old)
    local n = redis.call('INCR', KEYS[3])
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', window, (id - 1) .. '-' .. n,
      'k', 'x', 'bin', old, 'why', 'evicted')
  end
end
local sid = id .. '-0'
redis.call('XADD', stream, sid, 'h', ARGV[9], 'b', ARGV[10], 'rs', rs, 'rb', rb)
local cap = tonumber(ARGV[3])
local len = redis.call('XLEN', stream)
if len > cap then
  local gone = len - cap
  if redis.call('EXISTS', 'hookpit:upd:' .. bin) == 1 then
    local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', gone)
    for _, e in ipairs(old) do
      local rid = string.match(e[1], '^(%d+)')
      redis.call('HDEL', 'hookpit:upd:' .. bin, rid)
    end
  end
  redis.call('XTRIM', stream, 'MAXLEN', cap)
  redis.call('HINCRBY', binh, 'evicted', gone)
end
local ev = redis.call('HGET', binh, 'evicted') or '0'
if ARGV[8] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', window, sid,
    'k', 'r', 'bin', bin, 'e', ev, 'sp', ARGV[8], 'h', ARGV[9], 'b', ARGV[10], 'rs', rs, 'rb', rb)
else
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', window, sid,
    'k', 'r', 'bin', bin, 'e', ev, 'h', ARGV[9], 'b', ARGV[10], 'rs', rs, 'rb', rb)
end
return id
"#;

/// Appends a non-request entry to the feed. KEYS: run, id, ev, feed. ARGV: run id, window,
/// then the entry's fields and values. Used inside the scripts below (as a prelude).
const FEED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('STALE run') end
local function feed(...)
  local last = tonumber(redis.call('GET', KEYS[2]) or '0')
  local n = redis.call('INCR', KEYS[3])
  return redis.call('XADD', KEYS[4], 'MAXLEN', '~', tonumber(ARGV[2]), last .. '-' .. n, ...)
end
"#;

/// Sets a bin's config (the sequence and fault generator start over; the ring is trimmed to
/// the new capacity). KEYS: run, id, ev, feed, bins, cfg. ARGV: run id, window, bin, config
/// JSON, capacity, now (ms).
pub fn configure() -> String {
    format!(
        "{FEED}{}",
        r#"
local bin = ARGV[3]
local binh = 'hookpit:bin:' .. bin
redis.call('HSET', KEYS[6], bin, ARGV[4])
redis.call('HSET', binh, 'pos', 0, 'draws', 0)
redis.call('HSETNX', binh, 'created', ARGV[6])
redis.call('ZADD', KEYS[5], 'NX', tonumber(redis.call('GET', KEYS[2]) or '0'), bin)
local stream = 'hookpit:req:' .. bin
local cap = tonumber(ARGV[5])
local len = redis.call('XLEN', stream)
if len > cap then
  redis.call('XTRIM', stream, 'MAXLEN', cap)
  redis.call('HINCRBY', binh, 'evicted', len - cap)
end
return feed('k', 'cfg', 'bin', bin, 'cfg', ARGV[4])
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
/// makes it, and moves the id sequence past the ids it already gave out.
/// KEYS: run, id. ARGV: a new run id, the highest id this instance knows. Returns the run id.
pub const RUN: &str = r#"
local run = redis.call('GET', KEYS[1])
if run then return run end
local known = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') < known then
  redis.call('SET', KEYS[2], known)
end
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
