// hookpit viewer entry point: routing (#/bin/NAME[/ID], #/webhooks), the bins sidebar, the live
// request list fed by the /_/ws websocket (resume with after=<last id>, resync over REST, virtual
// scrolling with a fixed row height; `updated` messages replace a row in place), search, keyboard
// and the request detail pane (signature verdict, forward result); the filter lives in the URL
// (#/bin/NAME[/ID]?q=…), the live list can be paused, the theme is auto/light/dark (remembered),
// `?` lists the keys, and the list foot exports the bin (or the filtered part) as HAR or NDJSON.
// The bin settings drawer lives in settings.js. Captured data is untrusted and only ever reaches
// the DOM as text.

import {
  api, h, fill, $, token, withToken, fmtSize, fmtCount, parseTime, relTime, absTime, headerText,
  header, copyText, toast, confirmAction, methodClass, statusClass, shortType,
} from './util.js';
import { bodyContext, bodyViews, renderBodyView, kvTable } from './body.js';
import { parseJson, looksLikeJson, renderTree } from './json.js';
import { createWebhooksPage } from './webhooks.js';
import { createSettingsPanel } from './settings.js';

const FIRST_PAGE = 200;
const MORE_PAGE = 2000;
const OVERSCAN = 8;
const FRESH_MS = 2500;
const BIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const state = {
  bins: new Map(), // name -> summary
  bin: null, // current bin (null: waiting for the first request anywhere)
  q: '',
  filterError: null,
  items: [], // current bin's requests, ascending by id (body left out)
  ids: new Map(), // id -> item
  lastSeen: 0, // highest request id received for this view (websocket resume point)
  hasMore: false,
  loading: false,
  loadError: null,
  selected: null,
  fresh: new Map(), // id -> performance.now() when it arrived live
  gen: 0, // bumps on every reload; stale responses are dropped
  instance: null,
  version: '',
  page: 'requests',
  detailTab: 'body',
  bodyView: null,
  rowVer: 0,
  paused: false, // the live list holds new requests back until resumed
  held: new Map(), // id -> request arrived while paused
  heldOverflow: false,
};

const MAX_HELD = 10000;

/** Numbers the browser tests read (time to first list paint etc.). */
const metrics = { listPaintedAt: null, listPaintedRows: 0, allLoadedAt: null, reloads: 0, connects: 0 };

const el = {
  conn: $('#conn'),
  connLabel: $('#conn .conn-label'),
  binList: $('#bin-list'),
  binSelect: $('#bin-select'),
  binName: $('#bin-name'),
  binStats: $('#bin-stats'),
  catchUrl: $('#catch-url'),
  list: $('#list'),
  spacer: $('#list-spacer'),
  listEmpty: $('#list-empty'),
  listFoot: $('#list-foot'),
  search: $('#search'),
  searchError: $('#search-error'),
  detail: $('#detail'),
  pageRequests: $('#page-requests'),
  pageWebhooks: $('#page-webhooks'),
  version: $('#version'),
};

const enc = encodeURIComponent;
const catchUrl = (bin) => `${location.origin}/${bin}`;

// ---------------------------------------------------------------------------------------------
// Live feed

const conn = { ws: null, timer: 0, retries: 0, fresh: false, resyncs: [], bin: null };

/** The bin the feed is for: the open bin, or every bin on the webhooks page (deliveries). */
const feedBin = () => (state.page === 'webhooks' ? null : state.bin);

function setConn(s, label) {
  el.conn.dataset.state = s;
  el.connLabel.textContent = label;
  el.conn.title = label;
}

function closeSocket() {
  clearTimeout(conn.timer);
  const ws = conn.ws;
  conn.ws = null;
  if (ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch {
      // already closed
    }
  }
}

/** Opens the feed for the current view, resuming after the last request id seen. */
function connect(fresh = false) {
  closeSocket();
  const p = new URLSearchParams();
  const bin = feedBin();
  if (bin) p.set('bin', bin);
  // resume after the last request seen; the webhooks page without a bin needs no replay
  if (bin || state.bin || state.page === 'requests') p.set('after', String(state.lastSeen));
  if (state.q) p.set('q', state.q);
  if (token) p.set('token', token);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/_/ws?${p}`);
  const gen = state.gen;
  conn.ws = ws;
  conn.bin = bin;
  conn.fresh = fresh;
  metrics.connects++;
  if (conn.retries === 0) setConn('connecting', 'connecting…');
  ws.onopen = () => {
    conn.retries = 0;
    setConn('live', 'live');
  };
  ws.onmessage = (ev) => {
    if (gen !== state.gen || conn.ws !== ws) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onMessage(msg);
  };
  ws.onclose = () => {
    if (conn.ws !== ws) return;
    conn.ws = null;
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  clearTimeout(conn.timer);
  const delay = Math.min(250 * 2 ** conn.retries, 3000);
  conn.retries++;
  setConn('offline', `offline — retrying in ${Math.max(1, Math.round(delay / 1000))}s`);
  conn.timer = setTimeout(() => {
    if (!state.booted) boot();
    else if (state.loadError) reload();
    else connect();
  }, delay);
}

function reconnectNow() {
  if (conn.ws && conn.ws.readyState <= WebSocket.OPEN) return;
  if (state.filterError) return;
  conn.retries = 0;
  clearTimeout(conn.timer);
  if (!state.booted) boot();
  else if (state.loadError) reload();
  else connect();
}
window.addEventListener('online', reconnectNow);
document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && reconnectNow());

function onMessage(msg) {
  switch (msg.type) {
    case 'hello': {
      const restarted = state.instance != null && msg.instance !== state.instance;
      const rewound = typeof msg.last_id === 'number' && msg.last_id < state.lastSeen;
      state.instance = msg.instance;
      state.version = msg.version || state.version;
      el.version.textContent = state.version ? `hookpit ${state.version}` : '';
      if (Array.isArray(msg.bins)) setBins(msg.bins);
      // hello lists only the most recently active bins: fetch the rest
      const partial = typeof msg.bins_total === 'number' && Array.isArray(msg.bins) && msg.bins_total > msg.bins.length;
      if (partial && !(restarted || rewound)) refreshBins().catch(() => null);
      if (restarted || rewound) {
        // a different server (or one that lost its memory): nothing we hold is valid any more
        state.lastSeen = 0;
        webhooks.invalidate();
        // the same id now names another request (or none): drop what the old instance showed
        detailCache.clear();
        detailGen++;
        if (state.selected != null) fill(el.detail, h('div', { class: 'detail-empty' }, h('div', { class: 'spinner' })));
        refreshBins()
          .catch(() => null)
          .then(() => (state.bin ? reload() : null))
          .then(() => {
            if (state.selected != null && state.page === 'requests') loadDetail(state.selected);
          });
      }
      break;
    }
    case 'request':
      onRequest(msg.request);
      break;
    case 'updated':
      onUpdated(msg.request);
      break;
    case 'deleted':
      if (msg.bin === state.bin) removeItem(msg.id);
      if (msg.bin === state.bin && state.held.delete(msg.id)) renderFollow();
      bumpBin(msg.bin, -1);
      break;
    case 'cleared':
      if (msg.bin === state.bin) {
        clearItems();
        state.held.clear();
        renderFollow();
      }
      // `removed`: the bin itself went (deleted, or evicted as the least recently used)
      if (msg.removed && msg.bin !== state.bin) state.bins.delete(msg.bin);
      else if (state.bins.has(msg.bin)) state.bins.get(msg.bin).count = 0;
      renderBins();
      renderBinHead();
      break;
    case 'bin':
      if (msg.bin && msg.bin.name) {
        state.bins.set(msg.bin.name, msg.bin);
        renderBins();
        if (msg.bin.name === state.bin) renderBinHead();
        settings.onBin(msg.bin);
      }
      break;
    case 'resync': {
      // a fresh socket reporting evictions older than the REST snapshot we just loaded: harmless
      if (conn.fresh && String(msg.reason || '').startsWith('evicted')) break;
      const now = performance.now();
      conn.resyncs = conn.resyncs.filter((t) => now - t < 5000);
      conn.resyncs.push(now);
      if (conn.resyncs.length <= 3) reload();
      break;
    }
    case 'delivery':
      webhooks.onDelivery(msg.delivery);
      break;
    default:
      break;
  }
}

function onRequest(r) {
  if (!r || typeof r.id !== 'number') return;
  conn.fresh = false;
  const b = state.bins.get(r.bin);
  if (!b) {
    state.bins.set(r.bin, { name: r.bin, count: 1, last_id: r.id, evicted: 0 });
    renderBins();
  } else if (r.id > (b.last_id || 0) && !state.q) {
    b.count = (b.count || 0) + 1;
    b.last_id = r.id;
    renderBinsSoon();
  }
  if (!state.bin) {
    // first request anywhere: show its bin
    if (state.page === 'requests') location.hash = `#/bin/${enc(r.bin)}`;
    return;
  }
  if (r.bin !== state.bin) return;
  if (r.id > state.lastSeen) state.lastSeen = r.id;
  if (state.ids.has(r.id)) return;
  if (state.paused) {
    if (state.held.size < MAX_HELD) state.held.set(r.id, r);
    else state.heldOverflow = true;
    renderFollow();
    return;
  }
  settings.onRequest(r.bin);
  if (r.body && !r.body.omitted) cacheDetail(r);
  insertItem(slim(r), true);
  if (state.bins.get(r.bin) && !state.q) trimToCount();
  // after a restart the selected id may only now exist again
  if (r.id === state.selected && goneId === r.id) loadDetail(r.id);
}

/** A kept request changed (a mirror forward's result arrived): replace it in place, same id. */
function onUpdated(r) {
  if (!r || typeof r.id !== 'number') return;
  const it = state.ids.get(r.id);
  if (it && r.bin === state.bin) {
    Object.assign(it, slim(r));
    state.rowVer++;
    scheduleRender();
  }
  // the live preview may leave a large body out: keep the one already loaded
  const cached = detailCache.get(r.id);
  let full = r;
  if (r.body && r.body.omitted) full = cached ? { ...r, body: cached.body } : null;
  if (full) cacheDetail(full);
  else detailCache.delete(r.id);
  if (state.selected === r.id && state.bin === r.bin) {
    if (full) renderDetail(full, true);
    else loadDetail(r.id, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Bins

async function refreshBins() {
  const res = await api('/_/api/bins');
  setBins(res.bins || []);
}

function setBins(list) {
  state.bins = new Map(list.map((b) => [b.name, b]));
  renderBins();
  renderBinHead();
}

function bumpBin(name, delta) {
  const b = state.bins.get(name);
  if (b) b.count = Math.max(0, (b.count || 0) + delta);
  renderBinsSoon();
}

let binsQueued = false;
function renderBinsSoon() {
  if (binsQueued) return;
  binsQueued = true;
  setTimeout(() => {
    binsQueued = false;
    renderBins();
    renderBinHead();
  }, 100);
}

function binNames() {
  const names = [...state.bins.keys()];
  if (state.bin && !state.bins.has(state.bin)) names.push(state.bin);
  return names.sort((a, b) => a.localeCompare(b));
}

function renderBins() {
  const names = binNames();
  fill(
    el.binList,
    names.length
      ? names.map((name) => {
          const b = state.bins.get(name) || { count: 0, evicted: 0 };
          return h(
            'a',
            { class: 'bin-item' + (name === state.bin ? ' active' : ''), href: `#/bin/${enc(name)}`, title: catchUrl(name) },
            h('span', { class: 'bin-item-name' }, name),
            b.evicted ? h('span', { class: 'bin-evicted', title: `${fmtCount(b.evicted)} evicted` }, `−${fmtCount(b.evicted)}`) : null,
            h('span', { class: 'bin-count' }, fmtCount(b.count))
          );
        })
      : h('div', { class: 'side-empty' }, 'No bins yet. Send any request to create one.')
  );
  fill(
    el.binSelect,
    state.bin ? null : h('option', { value: '' }, 'Choose a bin…'),
    names.map((name) => h('option', { value: name, selected: name === state.bin }, `${name} (${fmtCount((state.bins.get(name) || {}).count)})`))
  );
}

function renderBinHead() {
  const bin = state.bin;
  document.body.classList.toggle('no-bin', !bin);
  el.binName.textContent = bin || 'No bins yet';
  el.catchUrl.textContent = catchUrl(bin || 'any-bin-name');
  const b = bin && state.bins.get(bin);
  const parts = [];
  if (b) parts.push(`${fmtCount(b.count)} request${b.count === 1 ? '' : 's'}`);
  if (b && b.evicted) parts.push(`${fmtCount(b.evicted)} evicted`);
  if (state.q && !state.filterError) parts.push(`${fmtCount(state.items.length)}${state.hasMore ? '+' : ''} matching`);
  el.binStats.textContent = parts.join(' · ');
  document.title = bin ? `${bin} · hookpit` : 'hookpit';
  const active = b && b.config ? Object.keys(b.config).filter((k) => k !== 'max_requests') : [];
  $('#bin-settings .cfg-dot').hidden = !active.length;
  $('#bin-settings').title = active.length
    ? `Settings — active: ${active.join(', ')}`
    : 'Response, sequence, faults, signature verification, forwarding';
}

/** Drops the oldest rows beyond the bin's kept count (the server evicted them). */
function trimToCount() {
  const b = state.bins.get(state.bin);
  if (!b || state.hasMore || state.q) return;
  const excess = state.items.length - b.count;
  if (excess > 0 && b.count >= 0) {
    const gone = state.items.splice(0, excess);
    for (const it of gone) state.ids.delete(it.id);
    scheduleRender();
  }
}

async function createBin(name) {
  if (!BIN_RE.test(name)) {
    toast('A bin name is letters, digits, . _ - (up to 64), starting with a letter or digit', 'error');
    return;
  }
  if (!state.bins.has(name)) {
    try {
      const s = await api(`/_/api/bins/${enc(name)}`, { method: 'PUT', json: {} });
      if (s && s.name) state.bins.set(s.name, s);
    } catch (e) {
      toast(`Cannot create bin: ${e.message}`, 'error');
      return;
    }
  }
  location.hash = `#/bin/${enc(name)}`;
}

// ---------------------------------------------------------------------------------------------
// Loading a bin's requests

/** Keeps only what a list row needs: the body text stays on the server. */
function slim(r) {
  return {
    id: r.id,
    bin: r.bin,
    method: r.method,
    target: r.target,
    t: parseTime(r.received_at),
    size: bodySize(r),
    truncated: r.body ? r.body.truncated : false,
    status: r.response ? (r.response.dropped ? null : r.response.status) : null,
    dropped: !!(r.response && r.response.dropped),
    ctype: shortType(header(r, 'content-type')),
    sig: r.signature ? (r.signature.valid ? 'valid' : 'invalid') : null,
    sigTitle: r.signature ? `${r.signature.scheme || 'signature'}: ${r.signature.valid ? 'valid' : r.signature.reason || 'invalid'}` : '',
  };
}

/** The body size; a list view that left the body out may only know it from Content-Length. */
function bodySize(r) {
  const b = r.body || {};
  if (b.size || !b.omitted) return b.size || 0;
  const len = Number(header(r, 'content-length'));
  return Number.isFinite(len) ? len : 0;
}

function requestsUrl(params) {
  const p = new URLSearchParams({ body: 'false', ...params });
  if (state.q) p.set('q', state.q);
  return `/_/api/bins/${enc(state.bin)}/requests?${p}`;
}

function clearItems() {
  state.items = [];
  state.ids.clear();
  state.fresh.clear();
  scheduleRender();
}

/** Reloads the current view over REST, then (re)opens the live feed after the newest id. */
async function reload() {
  const gen = ++state.gen;
  metrics.reloads++;
  closeSocket();
  clearItems();
  state.held.clear();
  state.heldOverflow = false;
  renderFollow();
  state.lastSeen = 0;
  state.hasMore = false;
  state.loadError = null;
  state.loading = !!state.bin;
  renderBinHead();
  renderListNow();
  if (!state.bin) {
    connect(true);
    return;
  }
  let page;
  try {
    page = await api(requestsUrl({ limit: FIRST_PAGE }));
  } catch (e) {
    if (gen !== state.gen) return;
    state.loading = false;
    if (e.status === 400 && state.q) {
      showFilterError(e.message);
      setConn('paused', 'paused — invalid filter');
    } else {
      state.loadError = e.message;
      scheduleReconnect();
    }
    renderListNow();
    return;
  }
  if (gen !== state.gen) return;
  showFilterError(null);
  state.loading = false;
  const reqs = page.requests || [];
  for (let i = reqs.length - 1; i >= 0; i--) insertItem(slim(reqs[i]), false);
  state.lastSeen = reqs.length ? Math.max(...reqs.map((r) => r.id)) : 0;
  state.hasMore = !!page.has_more;
  renderBinHead();
  renderListNow();
  notePaint(gen);
  connect(true);
  if (state.selected != null && !state.ids.has(state.selected)) scrollToSelected();
  if (state.hasMore) loadOlder(gen);
  else metrics.allLoadedAt = performance.now();
}

function notePaint(gen) {
  requestAnimationFrame(() =>
    setTimeout(() => {
      if (gen !== state.gen || metrics.listPaintedAt != null) return;
      metrics.listPaintedAt = performance.now();
      metrics.listPaintedRows = el.spacer.querySelectorAll('.row:not([hidden])').length;
    }, 0)
  );
}

/** Fetches older pages in the background so the whole bin is scrollable. */
async function loadOlder(gen) {
  while (state.hasMore && gen === state.gen) {
    const oldest = state.items.length ? state.items[0].id : null;
    if (oldest == null) break;
    let page;
    try {
      page = await api(requestsUrl({ limit: MORE_PAGE, before: oldest }));
    } catch {
      break;
    }
    if (gen !== state.gen) return;
    const reqs = page.requests || [];
    const older = [];
    for (let i = reqs.length - 1; i >= 0; i--) {
      const it = slim(reqs[i]);
      if (!state.ids.has(it.id) && it.id < oldest) {
        older.push(it);
        state.ids.set(it.id, it);
      }
    }
    state.items = older.concat(state.items);
    state.hasMore = !!page.has_more && reqs.length > 0;
    renderBinHead();
    scheduleRender();
  }
  if (gen === state.gen) {
    metrics.allLoadedAt = performance.now();
    scheduleRender();
  }
}

function findIndex(id) {
  let lo = 0;
  let hi = state.items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (state.items[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertItem(it, live) {
  const arr = state.items;
  let idx;
  if (!arr.length || arr[arr.length - 1].id < it.id) {
    arr.push(it);
    idx = arr.length - 1;
  } else {
    idx = findIndex(it.id);
    if (arr[idx] && arr[idx].id === it.id) return;
    arr.splice(idx, 0, it);
  }
  state.ids.set(it.id, it);
  if (live) {
    state.fresh.set(it.id, performance.now());
    setTimeout(scheduleRender, FRESH_MS + 50);
    // keep what the user is looking at still when rows arrive above it
    const visual = arr.length - 1 - idx;
    if (el.list.scrollTop > 2 && visual * ROW() <= el.list.scrollTop) pendingShift += ROW();
  }
  scheduleRender();
  renderBinHeadSoon();
}

function removeItem(id) {
  const it = state.ids.get(id);
  if (!it) return;
  const idx = findIndex(id);
  if (state.items[idx] && state.items[idx].id === id) state.items.splice(idx, 1);
  state.ids.delete(id);
  detailCache.delete(id);
  if (state.selected === id) showDetailGone(id);
  scheduleRender();
}

let headQueued = false;
function renderBinHeadSoon() {
  if (headQueued) return;
  headQueued = true;
  setTimeout(() => {
    headQueued = false;
    renderBinHead();
  }, 100);
}

// ---------------------------------------------------------------------------------------------
// Virtual list: only the visible rows (plus a few) exist in the DOM, positioned by transform.

let rowHeight = 0;
const ROW = () => rowHeight || (rowHeight = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--row-h')) || 56);
window.addEventListener('resize', () => {
  rowHeight = 0;
  scheduleRender();
});

const pool = [];
let pendingShift = 0;
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderListNow();
  });
}

function makeRow() {
  const row = h('div', { class: 'row', role: 'option' });
  row._m = h('span', { class: 'badge method' });
  row._t = h('span', { class: 'target' });
  row._s = h('span', { class: 'status' });
  row._z = h('span', { class: 'size' });
  row._c = h('span', { class: 'ctype' });
  row._g = h('span', { class: 'sig' });
  row._w = h('span', { class: 'when' });
  row._i = h('span', { class: 'rid' });
  row.append(row._m, row._t, h('span', { class: 'meta' }, row._s, row._z, row._c, row._g), row._i, row._w);
  return row;
}

function updateRow(row, it, vi) {
  const rh = ROW();
  row.style.transform = `translateY(${vi * rh}px)`;
  const fresh = state.fresh.get(it.id);
  const isFresh = fresh != null && performance.now() - fresh < FRESH_MS;
  if (fresh != null && !isFresh) state.fresh.delete(it.id);
  row.classList.toggle('fresh', isFresh);
  row.classList.toggle('selected', it.id === state.selected);
  row.setAttribute('aria-selected', it.id === state.selected ? 'true' : 'false');
  if (row._id === it.id && row._ver === state.rowVer) return;
  row._id = it.id;
  row._ver = state.rowVer;
  row.dataset.id = String(it.id);
  row._m.textContent = it.method;
  row._m.className = 'badge method ' + methodClass(it.method);
  row._t.textContent = it.target;
  row._t.title = it.target;
  row._s.textContent = it.dropped ? 'dropped' : it.status == null ? '—' : String(it.status);
  row._s.className = 'status ' + (it.dropped ? 's-5xx' : statusClass(it.status));
  row._z.textContent = it.size ? fmtSize(it.size) + (it.truncated ? ' (truncated)' : '') : 'no body';
  row._c.textContent = it.ctype;
  row._g.textContent = it.sig === 'valid' ? 'sig ✓' : it.sig === 'invalid' ? 'sig ✗' : '';
  row._g.className = 'sig ' + (it.sig || '');
  row._g.title = it.sigTitle || '';
  row._w.textContent = relTime(it.t);
  row._w.title = absTime(it.t);
  row._i.textContent = '#' + it.id;
}

function renderListNow() {
  const n = state.items.length;
  const rh = ROW();
  el.spacer.style.height = n * rh + 'px';
  if (pendingShift) {
    el.list.scrollTop += pendingShift;
    pendingShift = 0;
  }
  const top = el.list.scrollTop;
  const height = el.list.clientHeight || 600;
  const first = Math.max(0, Math.floor(top / rh) - OVERSCAN);
  const last = Math.min(n, Math.ceil((top + height) / rh) + OVERSCAN);
  const needed = Math.max(0, last - first);
  while (pool.length < needed) {
    const r = makeRow();
    pool.push(r);
    el.spacer.append(r);
  }
  for (let k = 0; k < pool.length; k++) {
    const row = pool[k];
    if (k >= needed) {
      if (!row.hidden) {
        row.hidden = true;
        row._id = null;
      }
      continue;
    }
    const vi = first + k;
    row.hidden = false;
    updateRow(row, state.items[n - 1 - vi], vi);
  }
  renderListState();
}

function renderListState() {
  const n = state.items.length;
  let empty = null;
  if (state.filterError) {
    empty = h('div', { class: 'empty-state' }, h('div', { class: 'empty-title' }, 'Invalid filter'), h('div', { class: 'empty-text' }, state.filterError));
  } else if (state.loadError && !n) {
    empty = h('div', { class: 'empty-state' }, h('div', { class: 'empty-title' }, 'Cannot load requests'), h('div', { class: 'empty-text' }, state.loadError));
  } else if (state.loading && !n) {
    empty = h('div', { class: 'empty-state' }, h('div', { class: 'spinner' }), h('div', { class: 'empty-text' }, 'Loading…'));
  } else if (!n && state.q) {
    empty = h('div', { class: 'empty-state' }, h('div', { class: 'empty-title' }, 'No matching requests'), h('div', { class: 'empty-text' }, 'New requests that match will appear here live.'));
  } else if (!n) {
    empty = waitingState();
  }
  el.listEmpty.hidden = !empty;
  el.list.hidden = !!empty;
  if (empty) fill(el.listEmpty, empty);
  const b = state.bins.get(state.bin);
  let foot = '';
  if (n) {
    foot = `${fmtCount(n)} ${state.q ? 'matching' : n === 1 ? 'request' : 'requests'}`;
    if (state.hasMore) foot += ' · loading older…';
    else if (b && b.evicted && !state.q) foot += ` · ${fmtCount(b.evicted)} older evicted`;
  }
  el.listFoot.textContent = foot;
  renderExports();
}

/** The export links: the bin, or only what the filter matches. */
function renderExports() {
  if (!state.bin) return;
  for (const [id, format, label] of [
    ['#export-har', 'har', 'HAR'],
    ['#export-ndjson', 'ndjson', 'NDJSON'],
  ]) {
    const a = $(id);
    const p = new URLSearchParams({ format });
    if (state.q && !state.filterError) p.set('q', state.q);
    a.href = withToken(`/_/api/bins/${enc(state.bin)}/export?${p}`);
    a.download = `${state.bin}.${format}`;
    a.title = state.q && !state.filterError ? `Download the requests matching “${state.q}” as ${label}` : `Download every request of ${state.bin} as ${label}`;
  }
}

function waitingState() {
  const url = catchUrl(state.bin || 'demo');
  const cmd = `curl -X POST ${url} -H 'Content-Type: application/json' -d '{"hello":"world"}'`;
  return h(
    'div',
    { class: 'empty-state waiting' },
    h('div', { class: 'pulse' }),
    h('div', { class: 'empty-title' }, state.bin ? 'Waiting for requests…' : 'Waiting for the first request…'),
    h('div', { class: 'empty-text' }, state.bin ? 'Anything sent to this bin shows up here instantly.' : 'Send any HTTP request to hookpit; the first path segment names the bin.'),
    h('pre', { class: 'code cmd' }, cmd),
    h('button', { class: 'btn small', type: 'button', onclick: async () => toast((await copyText(cmd)) ? 'Command copied' : 'Copy failed') }, 'Copy command')
  );
}

el.list.addEventListener('scroll', scheduleRender, { passive: true });
el.list.addEventListener('click', (e) => {
  const row = e.target.closest('.row');
  if (row && row._id != null) select(row._id);
});

function scrollToSelected() {
  const id = state.selected;
  if (id == null || !state.ids.has(id)) return;
  const vi = state.items.length - 1 - findIndex(id);
  const rh = ROW();
  const top = vi * rh;
  const view = el.list.clientHeight;
  if (top < el.list.scrollTop) el.list.scrollTop = top;
  else if (top + rh > el.list.scrollTop + view) el.list.scrollTop = top + rh - view;
  scheduleRender();
}

function moveSelection(delta) {
  const n = state.items.length;
  if (!n) return;
  let vi;
  if (state.selected == null || !state.ids.has(state.selected)) vi = delta > 0 ? 0 : n - 1;
  else vi = Math.min(n - 1, Math.max(0, n - 1 - findIndex(state.selected) + delta));
  select(state.items[n - 1 - vi].id);
  scrollToSelected();
}

// relative times age; refresh the visible rows now and then (no network involved)
setInterval(() => {
  state.rowVer++;
  scheduleRender();
  const when = el.detail.querySelector('[data-rel-time]');
  if (when) when.textContent = relTime(Number(when.dataset.relTime));
}, 15000);

// ---------------------------------------------------------------------------------------------
// Search

let searchTimer = 0;
el.search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => applyFilter(el.search.value), 250);
});
el.search.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    clearTimeout(searchTimer);
    applyFilter(el.search.value);
  }
});
$('#filter-help-btn').addEventListener('click', () => {
  const help = $('#filter-help');
  help.hidden = !help.hidden;
});
$('#filter-help').addEventListener('click', (e) => {
  const code = e.target.closest('dt code');
  if (!code) return;
  el.search.value = (el.search.value.trim() + ' ' + code.textContent).trim();
  el.search.focus();
  applyFilter(el.search.value);
});

function applyFilter(raw) {
  const q = raw.trim();
  if (q === state.q && !state.filterError) return;
  state.q = q;
  if (state.page === 'requests' && state.bin) history.replaceState(null, '', routeHash(state.bin, state.selected));
  $('#tab-requests').href = state.bin ? routeHash(state.bin, null) : '#/';
  reload();
}

/** The viewer's address for a bin, a selected request and the current filter. */
function routeHash(bin, id) {
  let hash = `#/bin/${enc(bin)}`;
  if (id != null) hash += `/${id}`;
  if (state.q) hash += `?${new URLSearchParams({ q: state.q })}`;
  return hash;
}

function showFilterError(message) {
  state.filterError = message;
  el.searchError.hidden = !message;
  el.searchError.textContent = message || '';
  el.search.classList.toggle('invalid', !!message);
  el.search.setAttribute('aria-invalid', message ? 'true' : 'false');
}

// ---------------------------------------------------------------------------------------------
// Detail pane

const detailCache = new Map(); // id -> full request JSON (small LRU)
function cacheDetail(r) {
  detailCache.delete(r.id);
  detailCache.set(r.id, r);
  while (detailCache.size > 100) detailCache.delete(detailCache.keys().next().value);
}

let detailGen = 0;

function select(id) {
  if (id == null) return;
  state.selected = id;
  history.replaceState(null, '', routeHash(state.bin, id));
  scheduleRender();
  loadDetail(id);
}

function deselect() {
  state.selected = null;
  detailGen++;
  if (state.bin) history.replaceState(null, '', routeHash(state.bin, null));
  scheduleRender();
  renderDetailEmpty();
}

async function loadDetail(id, keepScroll = false) {
  const g = ++detailGen;
  const cached = detailCache.get(id);
  if (cached) {
    renderDetail(cached, keepScroll);
    return;
  }
  const slow = keepScroll ? 0 : setTimeout(() => g === detailGen && fill(el.detail, h('div', { class: 'detail-empty' }, h('div', { class: 'spinner' }))), 150);
  try {
    const r = await api(`/_/api/requests/${enc(id)}`);
    clearTimeout(slow);
    if (g !== detailGen) return;
    cacheDetail(r);
    renderDetail(r, keepScroll);
  } catch (e) {
    clearTimeout(slow);
    if (g !== detailGen) return;
    if (e.status === 404) showDetailGone(id);
    else fill(el.detail, h('div', { class: 'detail-empty' }, h('div', { class: 'empty-title' }, 'Cannot load request'), h('div', { class: 'empty-text' }, e.message)));
  }
}

let goneId = null; // the selected id the detail pane reported missing

function showDetailGone(id) {
  goneId = id;
  fill(
    el.detail,
    h('div', { class: 'detail-empty' }, h('div', { class: 'empty-title' }, `Request #${id} is gone`), h('div', { class: 'empty-text' }, 'It was deleted, cleared or evicted to make room for newer requests.'))
  );
}

function renderDetailEmpty() {
  fill(
    el.detail,
    h(
      'div',
      { class: 'detail-empty' },
      h('div', { class: 'empty-title' }, 'No request selected'),
      h('div', { class: 'empty-text keys' }, h('kbd', null, 'j'), ' ', h('kbd', null, 'k'), ' to move, ', h('kbd', null, '/'), ' to search, ', h('kbd', null, 'Esc'), ' to clear')
    )
  );
}

function section(title, ...kids) {
  return h('div', { class: 'section' }, title ? h('div', { class: 'section-title' }, title) : null, kids);
}

function statusPill(status, extra) {
  return h('span', { class: 'status-pill ' + statusClass(status) }, status == null ? '—' : String(status), extra ? h('span', { class: 'status-extra' }, extra) : null);
}

function headersTable(headers) {
  return kvTable(
    (headers || []).map(([k, v]) => {
      const t = headerText(v);
      return [k, t.text, t.binary];
    }),
    ['Name', 'Value'],
    { numbered: true, empty: 'No headers' }
  );
}

/** Renders a request in the detail pane; an in-place update (`keepScroll`) keeps the scroll spot. */
function renderDetail(req, keepScroll = false) {
  goneId = null;
  const scrollTop = el.detail.scrollTop;
  const ctx = bodyContext(req);
  const views = bodyViews(ctx);
  const t = parseTime(req.received_at);
  const resp = req.response || {};
  const bodySize = req.body ? req.body.size : 0;

  const actions = h(
    'div',
    { class: 'detail-actions' },
    h('button', { class: 'btn small', type: 'button', title: 'Copy a curl command that reproduces this request', onclick: () => copyCurl(req.id) }, 'Copy as curl'),
    h('a', { class: 'btn small', href: withToken(`/_/api/requests/${enc(req.id)}/body`), download: `request-${req.id}.bin`, title: 'Download the exact body bytes' }, 'Download body'),
    h('button', { class: 'btn small', type: 'button', onclick: () => switchTab('replay') }, 'Replay…'),
    h('button', { class: 'btn small danger', type: 'button', onclick: () => deleteRequest(req.id) }, 'Delete')
  );

  const overview = h(
    'dl',
    { class: 'overview' },
    ov('Received', h('span', null, absTime(t), ' ', h('span', { class: 'muted nowrap', dataset: { relTime: String(t) } }, relTime(t)))),
    req.path && req.path !== String(req.target || '').split('?')[0] ? ov('Decoded path', h('code', { class: 'decoded-path' }, req.path)) : null,
    ov('From', h('code', null, req.remote_addr || '')),
    ov('Protocol', req.version || ''),
    ov('Body', bodySize ? `${fmtSize(bodySize)}${ctx.ct ? ' · ' + ctx.ct : ''}` : 'none', req.body && req.body.truncated ? h('span', { class: 'tag warn' }, 'truncated') : null),
    ov('Response', resp.dropped ? h('span', { class: 'status-pill s-5xx' }, 'connection dropped') : statusPill(resp.status), resp.delay_ms ? h('span', { class: 'muted' }, ` after ${resp.delay_ms} ms`) : null),
    req.signature
      ? ov(
          'Signature',
          h('span', { class: 'sig-verdict' }, h('span', { class: 'tag ' + (req.signature.valid ? 'ok' : 'bad') }, req.signature.valid ? '✓ valid' : '✗ invalid'),
          ' ',
          h('span', { class: 'sig-scheme' }, req.signature.scheme || ''),
          req.signature.reason ? h('span', { class: 'muted sig-reason' }, ' — ' + req.signature.reason) : null)
        )
      : null,
    req.forward
      ? ov(
          'Forwarded',
          h(
            'span',
            { class: 'fwd-summary' },
            req.forward.error ? h('span', { class: 'tag bad' }, 'failed') : statusPill(req.forward.status),
            req.forward.latency_ms != null ? h('span', { class: 'muted' }, ` ${fmtMs(req.forward.latency_ms)} · `) : ' ',
            h('button', { class: 'link-btn', type: 'button', title: 'Show the forward target’s answer', onclick: () => switchTab('forward') }, 'details')
          )
        )
      : null,
    ov('ID', h('code', null, `#${req.id}`), h('span', { class: 'muted' }, ` in ${req.bin}`))
  );

  const tabs = [
    { key: 'body', label: 'Body', count: bodySize ? fmtSize(bodySize) : '' },
    { key: 'headers', label: 'Headers', count: String((req.headers || []).length) },
    { key: 'query', label: 'Query', count: String((req.query || []).length) },
    { key: 'response', label: 'Response', count: resp.dropped ? 'dropped' : resp.status != null ? String(resp.status) : '' },
    req.forward ? { key: 'forward', label: 'Forward', count: req.forward.error ? 'error' : req.forward.status != null ? String(req.forward.status) : '' } : null,
    { key: 'replay', label: 'Replay', count: '' },
  ].filter(Boolean);
  if (!tabs.some((x) => x.key === state.detailTab)) state.detailTab = 'body';

  const panel = h('div', { class: 'tab-panel', role: 'tabpanel' });
  const tabBar = h(
    'div',
    { class: 'dtabs', role: 'tablist' },
    tabs.map((x) =>
      h(
        'button',
        { class: 'dtab', type: 'button', role: 'tab', dataset: { tab: x.key }, onclick: () => switchTab(x.key) },
        x.label,
        x.count ? h('span', { class: 'dtab-count' }, x.count) : null
      )
    )
  );

  const renderPanel = () => {
    for (const b of tabBar.children) {
      const on = b.dataset.tab === state.detailTab;
      b.classList.toggle('active', on);
      b.setAttribute('aria-selected', on ? 'true' : 'false');
    }
    switch (state.detailTab) {
      case 'headers':
        fill(panel, headersTable(req.headers));
        break;
      case 'query':
        fill(panel, kvTable(req.query || [], ['Name', 'Value'], { numbered: true, empty: 'No query parameters' }));
        break;
      case 'response':
        fill(panel, responsePanel(resp));
        break;
      case 'forward':
        fill(panel, forwardPanel(req.forward));
        break;
      case 'replay':
        fill(panel, replayPanel(req));
        break;
      default:
        fill(panel, bodyPanel(req, ctx, views));
    }
  };
  el.detail._switchTab = (key) => {
    state.detailTab = key;
    renderPanel();
  };
  renderPanel();

  fill(
    el.detail,
    h(
      'div',
      { class: 'detail-head' },
      h('button', { class: 'btn small ghost back', type: 'button', onclick: deselect, title: 'Close (Esc)' }, '←'),
      h('span', { class: 'badge method big ' + methodClass(req.method) }, req.method),
      h('code', { class: 'detail-target' }, req.target)
    ),
    actions,
    overview,
    tabBar,
    panel
  );
  el.detail.scrollTop = keepScroll ? scrollTop : 0;
}

const fmtMs = (ms) => (ms < 10 ? `${Number(ms).toFixed(1)} ms` : `${Math.round(ms)} ms`);

function ov(label, ...value) {
  return [h('dt', null, label), h('dd', null, value)];
}

function switchTab(key) {
  if (el.detail._switchTab) el.detail._switchTab(key);
}

function bodyPanel(req, ctx, views) {
  if (req.body && req.body.omitted) return h('div', { class: 'empty-small' }, 'Body not loaded.');
  if (!views.length) return h('div', { class: 'empty-small' }, 'No body');
  let key = views.some((v) => v.key === state.bodyView) ? state.bodyView : views[0].key;
  const content = h('div', { class: 'body-content' });
  const seg = h(
    'div',
    { class: 'segmented', role: 'tablist' },
    views.map((v) =>
      h(
        'button',
        {
          type: 'button',
          class: 'seg',
          dataset: { view: v.key },
          onclick: () => {
            state.bodyView = v.key;
            key = v.key;
            show();
          },
        },
        v.label
      )
    )
  );
  const show = () => {
    for (const b of seg.children) b.classList.toggle('active', b.dataset.view === key);
    fill(content, renderBodyView(key, ctx));
  };
  show();
  return h(
    'div',
    { class: 'body-panel' },
    req.body && req.body.truncated ? h('div', { class: 'note warn' }, `Body truncated: only the first ${fmtSize(req.body.size)} were kept.`) : null,
    seg,
    content
  );
}

function valueView(body) {
  // a response/replay body: JSON body object {size, encoding, text|base64} or a plain string
  let text = null;
  if (typeof body === 'string') text = body;
  else if (body && typeof body.text === 'string') text = body.text;
  else if (body && typeof body.base64 === 'string') return h('div', { class: 'note' }, `${fmtSize(body.size)} of binary data`);
  if (text == null || text === '') return h('div', { class: 'empty-small' }, 'Empty body');
  if (looksLikeJson(text)) {
    try {
      return renderTree(parseJson(text));
    } catch {
      // not JSON: show as text
    }
  }
  return h('pre', { class: 'code wrap' }, text);
}

function responsePanel(resp) {
  if (resp.dropped) return h('div', { class: 'note warn' }, 'hookpit dropped the connection instead of answering (fault rule).');
  return h(
    'div',
    { class: 'response-panel' },
    h('div', { class: 'resp-line' }, statusPill(resp.status), resp.delay_ms ? h('span', { class: 'muted' }, ` delayed ${resp.delay_ms} ms`) : null),
    section('Headers sent', headersTable(resp.headers || [])),
    section('Body sent', valueView(resp.body))
  );
}

/** What the bin's forward target answered (recorded on the request as `forward`). */
function forwardPanel(f) {
  const body = f.body || {};
  return h(
    'div',
    { class: 'forward-panel' },
    h(
      'dl',
      { class: 'overview fwd-facts' },
      ov('Target', h('code', { class: 'fwd-url' }, f.url || '')),
      ov('Status', f.status != null ? statusPill(f.status) : h('span', { class: 'muted' }, 'no answer')),
      ov('Latency', f.latency_ms != null ? fmtMs(f.latency_ms) : '—'),
      f.error ? ov('Error', h('span', { class: 'fwd-error' }, f.error)) : null
    ),
    f.status != null ? section('Response headers', headersTable(f.headers || [])) : null,
    f.status != null
      ? section(
          'Response body',
          body.truncated ? h('div', { class: 'note' }, `Excerpt: the first ${fmtSize(body.size)} of the target’s answer.`) : null,
          valueView(body)
        )
      : null
  );
}

let replayDraft = null; // what is typed in the replay box survives a re-render

function replayPanel(req) {
  const saved = replayDraft != null ? replayDraft : localStorage.getItem('hookpit.replayUrl') || '';
  const input = h('input', { class: 'input mono', type: 'url', placeholder: 'http://127.0.0.1:3000/webhooks', value: saved, spellcheck: false, 'aria-label': 'Replay target URL', oninput: () => (replayDraft = input.value) });
  const out = h('div', { class: 'replay-out' });
  const btn = h('button', { class: 'btn primary', type: 'submit' }, 'Send');
  const form = h(
    'form',
    {
      class: 'replay-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const url = input.value.trim();
        if (!url) return input.focus();
        localStorage.setItem('hookpit.replayUrl', url);
        btn.disabled = true;
        fill(out, h('div', { class: 'note' }, h('span', { class: 'spinner inline' }), ` Sending ${req.method} to ${url}…`));
        try {
          const r = await api(`/_/api/requests/${enc(req.id)}/replay`, { method: 'POST', json: { url } });
          fill(out, replayResult(r));
        } catch (err) {
          fill(out, h('div', { class: 'note error' }, `Replay failed: ${err.message}`));
        } finally {
          btn.disabled = false;
        }
      },
    },
    h('label', { class: 'field-label' }, `Resend this ${req.method} (same headers and body) to`),
    h('div', { class: 'row-input' }, input, btn)
  );
  return h('div', { class: 'replay-panel' }, form, out);
}

function replayResult(r) {
  if (r.error) {
    return h('div', { class: 'replay-result' }, h('div', { class: 'resp-line' }, h('span', { class: 'tag bad' }, 'error'), ' ', r.error, r.latency_ms != null ? h('span', { class: 'muted' }, ` · ${Math.round(r.latency_ms)} ms`) : null));
  }
  return h(
    'div',
    { class: 'replay-result' },
    h('div', { class: 'resp-line' }, statusPill(r.status), h('span', { class: 'muted' }, ` · ${r.latency_ms != null ? Math.round(r.latency_ms) + ' ms' : ''}`)),
    section('Response headers', headersTable(r.headers || [])),
    section('Response body', valueView(r.body))
  );
}

async function copyCurl(id) {
  try {
    const text = await api(`/_/api/requests/${enc(id)}/curl`, { as: 'text' });
    toast((await copyText(text)) ? 'curl command copied' : 'Copy failed');
  } catch (e) {
    toast(`Cannot build curl command: ${e.message}`, 'error');
  }
}

async function deleteRequest(id) {
  const n = state.items.length;
  const vi = state.ids.has(id) ? n - 1 - findIndex(id) : -1;
  try {
    await api(`/_/api/requests/${enc(id)}`, { method: 'DELETE' });
  } catch (e) {
    if (e.status !== 404) {
      toast(`Cannot delete: ${e.message}`, 'error');
      return;
    }
  }
  removeItem(id);
  const m = state.items.length;
  if (m && vi >= 0) select(state.items[m - 1 - Math.min(vi, m - 1)].id);
  else deselect();
}

// ---------------------------------------------------------------------------------------------
// Bin actions, keyboard, routing

$('#copy-catch').addEventListener('click', async () => toast((await copyText(el.catchUrl.textContent)) ? 'Catch URL copied' : 'Copy failed'));
$('#clear-bin').addEventListener('click', async () => {
  const bin = state.bin;
  if (!bin) return;
  const what = state.q ? `the requests matching “${state.q}”` : 'every request';
  if (!(await confirmAction(`Clear ${bin}?`, `This deletes ${what} in ${bin}.`, 'Clear'))) return;
  try {
    const qs = state.q ? `?q=${enc(state.q)}` : '';
    await api(`/_/api/bins/${enc(bin)}/requests${qs}`, { method: 'DELETE' });
    if (state.bin === bin) {
      deselect();
      reload();
    }
  } catch (e) {
    toast(`Cannot clear: ${e.message}`, 'error');
  }
});
$('#delete-bin').addEventListener('click', async () => {
  const bin = state.bin;
  if (!bin) return;
  if (!(await confirmAction(`Delete bin ${bin}?`, 'The bin, its settings and its requests are removed. It comes back when a request arrives.', 'Delete'))) return;
  try {
    await api(`/_/api/bins/${enc(bin)}`, { method: 'DELETE' });
  } catch (e) {
    if (e.status !== 404) {
      toast(`Cannot delete: ${e.message}`, 'error');
      return;
    }
  }
  state.bins.delete(bin);
  state.bin = null;
  const next = pickDefaultBin();
  location.hash = next ? `#/bin/${enc(next)}` : '#/';
  if (!next) onRoute();
});
$('#bin-settings').addEventListener('click', () => state.bin && settings.open(state.bin));
$('#new-bin-btn').addEventListener('click', () => {
  const form = $('#new-bin-form');
  form.hidden = !form.hidden;
  if (!form.hidden) {
    const input = $('#new-bin-name');
    input.value = 'bin-' + Math.random().toString(36).slice(2, 7);
    input.focus();
    input.select();
  }
});
$('#new-bin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('#new-bin-name').value.trim();
  $('#new-bin-form').hidden = true;
  createBin(name);
});
el.binSelect.addEventListener('change', () => {
  if (el.binSelect.value) location.hash = `#/bin/${enc(el.binSelect.value)}`;
});

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.querySelector('dialog[open]')) return; // the dialog handles its own keys
  const tag = e.target && e.target.tagName;
  const typing = tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (e.target && e.target.isContentEditable);
  if (e.key === 'Escape') {
    if (e.target === el.search || el.search.value) {
      el.search.value = '';
      el.search.blur();
      $('#filter-help').hidden = true;
      applyFilter('');
    } else if (!typing && state.selected != null) {
      deselect();
    }
    return;
  }
  if (typing || state.page !== 'requests') return;
  if (e.key === 'j' || e.key === 'ArrowDown') {
    e.preventDefault();
    moveSelection(1);
  } else if (e.key === 'k' || e.key === 'ArrowUp') {
    e.preventDefault();
    moveSelection(-1);
  } else if (e.key === '/') {
    e.preventDefault();
    el.search.focus();
    el.search.select();
  } else if (e.key === 'p') {
    e.preventDefault();
    setPaused(!state.paused);
  }
});

// `?` anywhere (not while typing) opens the list of keys; the dialog closes with Esc
document.addEventListener('keydown', (e) => {
  if (e.key !== '?' || e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = e.target && e.target.tagName;
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (e.target && e.target.isContentEditable)) return;
  if (document.querySelector('dialog[open]')) return;
  e.preventDefault();
  $('#keys').showModal();
});
$('#keys-btn').addEventListener('click', () => $('#keys').showModal());

// ---------------------------------------------------------------------------------------------
// Pause / follow the live list

function setPaused(paused) {
  if (paused === state.paused) return;
  state.paused = paused;
  if (!paused) {
    const held = [...state.held.values()].sort((a, b) => a.id - b.id);
    const overflow = state.heldOverflow;
    state.held.clear();
    state.heldOverflow = false;
    if (overflow) reload();
    else for (const r of held) onRequest(r);
  }
  renderFollow();
}

function renderFollow() {
  const btn = $('#follow-btn');
  const n = state.held.size;
  btn.setAttribute('aria-pressed', state.paused ? 'true' : 'false');
  const count = `${fmtCount(n)}${state.heldOverflow ? '+' : ''}`;
  btn.textContent = state.paused ? (n ? `▶ ${count} new` : '▶') : '❚❚';
  btn.setAttribute('aria-label', state.paused ? (n ? `Resume (${count} new)` : 'Resume') : 'Pause');
  btn.title = state.paused ? 'The live list is paused: new requests wait here (p to resume)' : 'Pause the live list (p): new requests wait until you resume';
}
$('#follow-btn').addEventListener('click', () => setPaused(!state.paused));

// ---------------------------------------------------------------------------------------------
// Theme: auto (the system's), light or dark, remembered

const THEMES = ['auto', 'light', 'dark'];
function applyTheme(theme) {
  const t = THEMES.includes(theme) ? theme : 'auto';
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  const btn = $('#theme-btn');
  btn.textContent = t[0].toUpperCase() + t.slice(1);
  const next = THEMES[(THEMES.indexOf(t) + 1) % THEMES.length];
  btn.title = `Theme: ${t === 'auto' ? 'follows the system' : t} (click for ${next})`;
  return t;
}
let theme = applyTheme(localStorage.getItem('hookpit.theme'));
$('#theme-btn').addEventListener('click', () => {
  theme = applyTheme(THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length]);
  if (theme === 'auto') localStorage.removeItem('hookpit.theme');
  else localStorage.setItem('hookpit.theme', theme);
});

function pickDefaultBin() {
  let best = null;
  for (const b of state.bins.values()) if (!best || (b.last_id || 0) > (best.last_id || 0)) best = b;
  return best ? best.name : null;
}

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const cut = hash.indexOf('?');
  const q = cut < 0 ? '' : (new URLSearchParams(hash.slice(cut + 1)).get('q') || '').trim();
  let parts;
  try {
    parts = (cut < 0 ? hash : hash.slice(0, cut)).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  if (parts[0] === 'webhooks') return { page: 'webhooks', rest: parts.slice(1) };
  if (parts[0] === 'bin' && parts[1] && BIN_RE.test(parts[1])) {
    const id = parts[2] && /^\d+$/.test(parts[2]) ? Number(parts[2]) : null;
    return { page: 'requests', bin: parts[1], id, q };
  }
  return { page: 'requests', bin: null, id: null, q };
}

function showPage(page) {
  state.page = page;
  el.pageRequests.hidden = page !== 'requests';
  el.pageWebhooks.hidden = page !== 'webhooks';
  $('#tab-requests').classList.toggle('active', page === 'requests');
  $('#tab-webhooks').classList.toggle('active', page === 'webhooks');
  $('#tab-requests').href = state.bin ? routeHash(state.bin, null) : '#/';
}

function onRoute() {
  const r = parseRoute();
  showPage(r.page);
  if (r.page === 'webhooks') {
    settings.close();
    webhooks.show(r.rest);
    if (state.booted && (!conn.ws || conn.bin !== feedBin())) connect();
    return;
  }
  let bin = r.bin;
  // the filter is part of the address: shareable, and it survives a reload
  const qChanged = r.q !== state.q;
  if (qChanged) {
    state.q = r.q;
    el.search.value = r.q;
    showFilterError(null);
  }
  if (!bin) {
    bin = pickDefaultBin();
    if (bin) {
      history.replaceState(null, '', routeHash(bin, null));
      $('#tab-requests').href = routeHash(bin, null);
    }
  }
  if (bin !== state.bin || (!bin && !conn.ws)) {
    if (settings.bin && settings.bin !== bin) settings.close();
    state.bin = bin;
    state.selected = r.id;
    pendingShift = 0;
    el.list.scrollTop = 0;
    renderBins();
    renderBinHead();
    showPage('requests');
    if (r.id != null) loadDetail(r.id);
    else renderDetailEmpty();
    reload();
  } else if (qChanged) {
    state.selected = r.id;
    if (r.id != null) loadDetail(r.id);
    reload();
  } else {
    // same bin: coming back from the webhooks page, the feed narrows to this bin again
    if (state.booted && conn.ws && conn.bin !== feedBin()) connect();
    if (r.id != null && r.id !== state.selected) {
      state.selected = r.id;
      loadDetail(r.id);
      scrollToSelected();
    }
  }
}
window.addEventListener('hashchange', onRoute);

const webhooks = createWebhooksPage(el.pageWebhooks);
const settings = createSettingsPanel($('#settings'));

async function boot() {
  setConn('connecting', 'connecting…');
  try {
    await refreshBins();
  } catch (e) {
    if (e.status === 401) {
      setConn('offline', 'unauthorized — open the viewer with ?token=…');
      return;
    }
    scheduleReconnect();
    return;
  }
  state.booted = true;
  onRoute();
}

// read-only handle for diagnostics and the browser tests
window.hookpitViewer = Object.freeze({
  metrics,
  state: () => ({ bin: state.bin, q: state.q, count: state.items.length, hasMore: state.hasMore, lastSeen: state.lastSeen, selected: state.selected, filterError: state.filterError, paused: state.paused, held: state.held.size }),
  ids: () => state.items.map((it) => it.id).reverse(),
  socket: () => conn.ws,
});

renderDetailEmpty();
boot();
