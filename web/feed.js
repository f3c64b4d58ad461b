// The live feed: the /_/ws websocket (opened for the open bin, or for every bin on the webhooks
// page; resumed with after=<last id seen>; reconnected with back-off, at once when the page comes
// back online or into view), the messages it brings (new, updated, deleted and cleared requests,
// bin summaries, deliveries, hello after a restart, resync, the store going offline and back), and
// the REST reload it resumes from.
// Pausing holds new requests back; the filter change reloads.
//
// Calls list.js, bins.js and detail.js, and hands bin and delivery messages to settings.js and
// webhooks.js. Starting over after a failed first load is `view.boot` (set by app.js).

import { api, fill, h, $, token, enc } from './util.js';
import { refreshBins, setBins, bumpBin, renderBins, renderBinsSoon, renderBinHead } from './bins.js';
import {
  FIRST_PAGE, slim, requestsUrl, clearItems, notePaint, loadOlder, insertItem, trimToCount, scheduleRender, renderListNow,
  scrollToSelected, routeHash, showFilterError, renderFollow,
} from './list.js';
import { cacheDetail, loadDetail, renderDetail, forgetRequest } from './detail.js';
import * as settingsPanel from './settings.js';
import * as webhooksPage from './webhooks.js';

/** At most this many requests wait while the list is paused; beyond it, resuming reloads. */
const MAX_HELD = 10000;

/** The bin the feed is for: the open bin, or every bin on the webhooks page (deliveries). */
export const feedBin = ({ state }) => (state.page === 'webhooks' ? null : state.bin);

export function setConn(view, s, label, title = label) {
  const { el } = view;
  el.conn.dataset.state = s;
  el.connLabel.textContent = label;
  el.conn.title = title;
}

/** The server's store (`hello.store`, `store` messages): while it cannot take captures (a shared
 * store offline), the connection badge says so instead of "live". */
function storeState(view, s) {
  const { el } = view;
  if (s && s.ok === false) {
    setConn(view, 'store-offline', 'store offline', `store offline: ${s.error || 'captures are refused'}`);
  } else if (el.conn.dataset.state === 'store-offline') {
    setConn(view, 'live', 'live');
  }
}

export function closeSocket(view) {
  const { conn } = view;
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
export function connect(view, fresh = false) {
  const { state, conn, metrics } = view;
  closeSocket(view);
  const p = new URLSearchParams();
  const bin = feedBin(view);
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
  if (conn.retries === 0) setConn(view, 'connecting', 'connecting…');
  ws.onopen = () => {
    conn.retries = 0;
    setConn(view, 'live', 'live');
  };
  ws.onmessage = (ev) => {
    if (gen !== state.gen || conn.ws !== ws) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onMessage(view, msg);
  };
  ws.onclose = () => {
    if (conn.ws !== ws) return;
    conn.ws = null;
    scheduleReconnect(view);
  };
}

export function scheduleReconnect(view) {
  const { state, conn } = view;
  clearTimeout(conn.timer);
  const delay = Math.min(250 * 2 ** conn.retries, 3000);
  conn.retries++;
  setConn(view, 'offline', `offline — retrying in ${Math.max(1, Math.round(delay / 1000))}s`);
  conn.timer = setTimeout(() => {
    if (!state.booted) view.boot();
    else if (state.loadError) reload(view);
    else connect(view);
  }, delay);
}

export function reconnectNow(view) {
  const { state, conn } = view;
  if (conn.ws && conn.ws.readyState <= WebSocket.OPEN) return;
  if (state.filterError) return;
  conn.retries = 0;
  clearTimeout(conn.timer);
  if (!state.booted) view.boot();
  else if (state.loadError) reload(view);
  else connect(view);
}

function onMessage(view, msg) {
  const { state, el, conn, pane } = view;
  switch (msg.type) {
    case 'hello': {
      const restarted = state.instance != null && msg.instance !== state.instance;
      const rewound = typeof msg.last_id === 'number' && msg.last_id < state.lastSeen;
      state.instance = msg.instance;
      state.version = msg.version || state.version;
      storeState(view, msg.store);
      el.version.textContent = state.version ? `hookpit ${state.version}` : '';
      if (Array.isArray(msg.bins)) setBins(view, msg.bins);
      // hello lists only the most recently active bins: fetch the rest
      const partial = typeof msg.bins_total === 'number' && Array.isArray(msg.bins) && msg.bins_total > msg.bins.length;
      if (partial && !(restarted || rewound)) refreshBins(view).catch(() => null);
      if (restarted || rewound) {
        // a different server (or one that lost its memory): nothing we hold is valid any more
        state.lastSeen = 0;
        webhooksPage.invalidate(view.webhooks);
        // the same id now names another request (or none): drop what the old instance showed
        pane.cache.clear();
        pane.gen++;
        if (state.selected != null) fill(el.detail, h('div', { class: 'detail-empty' }, h('div', { class: 'spinner' })));
        refreshBins(view)
          .catch(() => null)
          .then(() => (state.bin ? reload(view) : null))
          .then(() => {
            if (state.selected != null && state.page === 'requests') loadDetail(view, state.selected);
          });
      }
      break;
    }
    case 'request':
      onRequest(view, msg.request);
      break;
    case 'updated':
      onUpdated(view, msg.request);
      break;
    case 'deleted':
      if (msg.bin === state.bin) forgetRequest(view, msg.id);
      if (msg.bin === state.bin && state.held.delete(msg.id)) renderFollow(view);
      bumpBin(view, msg.bin, -1);
      break;
    case 'cleared':
      if (msg.bin === state.bin) {
        clearItems(view);
        state.held.clear();
        renderFollow(view);
      }
      // `removed`: the bin itself went (deleted, or evicted as the least recently used)
      if (msg.removed && msg.bin !== state.bin) state.bins.delete(msg.bin);
      else if (state.bins.has(msg.bin)) state.bins.get(msg.bin).count = 0;
      renderBins(view);
      renderBinHead(view);
      break;
    case 'bin':
      if (msg.bin && msg.bin.name) {
        state.bins.set(msg.bin.name, msg.bin);
        renderBins(view);
        if (msg.bin.name === state.bin) renderBinHead(view);
        settingsPanel.onBin(view.settings, msg.bin);
      }
      break;
    case 'resync': {
      // a fresh socket reporting evictions older than the REST snapshot we just loaded: harmless
      if (conn.fresh && String(msg.reason || '').startsWith('evicted')) break;
      const now = performance.now();
      conn.resyncs = conn.resyncs.filter((t) => now - t < 5000);
      conn.resyncs.push(now);
      if (conn.resyncs.length <= 3) reload(view);
      break;
    }
    case 'delivery':
      webhooksPage.onDelivery(view.webhooks, msg.delivery);
      break;
    case 'store':
      storeState(view, msg);
      break;
    default:
      break;
  }
}

function onRequest(view, r) {
  const { state, conn, pane } = view;
  if (!r || typeof r.id !== 'number') return;
  conn.fresh = false;
  const b = state.bins.get(r.bin);
  if (!b) {
    state.bins.set(r.bin, { name: r.bin, count: 1, last_id: r.id, evicted: 0 });
    renderBins(view);
  } else if (r.id > (b.last_id || 0) && !state.q) {
    b.count = (b.count || 0) + 1;
    b.last_id = r.id;
    renderBinsSoon(view);
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
    renderFollow(view);
    return;
  }
  settingsPanel.onRequest(view.settings, r.bin);
  if (r.body && !r.body.omitted) cacheDetail(view, r);
  insertItem(view, slim(r), true);
  if (state.bins.get(r.bin) && !state.q) trimToCount(view);
  // after a restart the selected id may only now exist again
  if (r.id === state.selected && pane.goneId === r.id) loadDetail(view, r.id);
}

/** A kept request changed (a mirror forward's result arrived): replace it in place, same id. */
function onUpdated(view, r) {
  const { state, pane } = view;
  if (!r || typeof r.id !== 'number') return;
  const it = state.ids.get(r.id);
  if (it && r.bin === state.bin) {
    Object.assign(it, slim(r));
    state.rowVer++;
    scheduleRender(view);
  }
  // the live preview may leave a large body out: keep the one already loaded
  const cached = pane.cache.get(r.id);
  let full = r;
  if (r.body && r.body.omitted) full = cached ? { ...r, body: cached.body } : null;
  if (full) cacheDetail(view, full);
  else pane.cache.delete(r.id);
  if (state.selected === r.id && state.bin === r.bin) {
    if (full) renderDetail(view, full, true);
    else loadDetail(view, r.id, true);
  }
}

/** Reloads the current view over REST, then (re)opens the live feed after the newest id. */
export async function reload(view) {
  const { state, metrics } = view;
  const gen = ++state.gen;
  metrics.reloads++;
  closeSocket(view);
  clearItems(view);
  state.held.clear();
  state.heldOverflow = false;
  renderFollow(view);
  state.lastSeen = 0;
  state.hasMore = false;
  state.loadError = null;
  state.loading = !!state.bin;
  renderBinHead(view);
  renderListNow(view);
  if (!state.bin) {
    connect(view, true);
    return;
  }
  let page;
  try {
    page = await api(requestsUrl(view, { limit: FIRST_PAGE }));
  } catch (e) {
    if (gen !== state.gen) return;
    state.loading = false;
    if (e.status === 400 && state.q) {
      showFilterError(view, e.message);
      setConn(view, 'paused', 'paused — invalid filter');
    } else {
      state.loadError = e.message;
      scheduleReconnect(view);
    }
    renderListNow(view);
    return;
  }
  if (gen !== state.gen) return;
  showFilterError(view, null);
  state.loading = false;
  const reqs = page.requests || [];
  for (let i = reqs.length - 1; i >= 0; i--) insertItem(view, slim(reqs[i]), false);
  state.lastSeen = reqs.length ? Math.max(...reqs.map((r) => r.id)) : 0;
  state.hasMore = !!page.has_more;
  renderBinHead(view);
  renderListNow(view);
  notePaint(view, gen);
  connect(view, true);
  if (state.selected != null && !state.ids.has(state.selected)) scrollToSelected(view);
  if (state.hasMore) loadOlder(view, gen);
  else metrics.allLoadedAt = performance.now();
}

export function setPaused(view, paused) {
  const { state } = view;
  if (paused === state.paused) return;
  state.paused = paused;
  if (!paused) {
    const held = [...state.held.values()].sort((a, b) => a.id - b.id);
    const overflow = state.heldOverflow;
    state.held.clear();
    state.heldOverflow = false;
    if (overflow) reload(view);
    else for (const r of held) onRequest(view, r);
  }
  renderFollow(view);
}

export function applyFilter(view, raw) {
  const { state } = view;
  const q = raw.trim();
  if (q === state.q && !state.filterError) return;
  state.q = q;
  if (state.page === 'requests' && state.bin) history.replaceState(null, '', routeHash(view, state.bin, state.selected));
  $('#tab-requests').href = state.bin ? routeHash(view, state.bin, null) : '#/';
  reload(view);
}
