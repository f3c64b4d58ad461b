// hookpit viewer entry point: routing (#/bin/NAME[/ID], #/webhooks; the filter lives in the URL as
// #/bin/NAME[/ID]?q=…), boot, and the wiring of the page's controls (bin actions, search, keyboard,
// pause, theme auto/light/dark remembered, `?` lists the keys) to the modules that do the work:
// feed.js (the live websocket and reloads), list.js (the request list), bins.js (the sidebar and
// bin head), detail.js (the selected request), webhooks.js (the sender page) and settings.js (the
// bin settings drawer). It owns the one `view` object they all take: the state, the page's
// elements, the socket and the render bookkeeping. Captured data only ever reaches the DOM as text.

import { $, copyText, toast, confirmAction, deleteOrGone, api, enc, relTime } from './util.js';
import * as webhooksPage from './webhooks.js';
import * as settingsPanel from './settings.js';
import { BIN_RE, refreshBins, renderBins, renderBinHead, createBin, pickDefaultBin } from './bins.js';
import { scheduleRender, scrollToSelected, routeHash, showFilterError } from './list.js';
import { select, deselect, moveSelection, loadDetail, renderDetailEmpty } from './detail.js';
import { feedBin, setConn, connect, scheduleReconnect, reconnectNow, reload, setPaused, applyFilter } from './feed.js';

/** The viewer: everything its modules share, passed to each of them. */
function createView() {
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
  const view = {
    state: {
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
    },
    el,
    /** Numbers the browser tests read (time to first list paint etc.). */
    metrics: { listPaintedAt: null, listPaintedRows: 0, allLoadedAt: null, reloads: 0, connects: 0 },
    /** The live socket and its reconnect bookkeeping. */
    conn: { ws: null, timer: 0, retries: 0, fresh: false, resyncs: [], bin: null },
    /** The virtual list: its row elements, a scroll shift owed to rows that arrived above, the row height. */
    vlist: { pool: [], pendingShift: 0, renderQueued: false, rowHeight: 0 },
    /** The detail pane: full requests by id (small LRU), a generation that drops stale loads, the id it reported gone, the replay URL being typed. */
    pane: { cache: new Map(), gen: 0, goneId: null, replayDraft: null },
    /** Deferred redraws of the bins list and the bin head. */
    queued: { bins: false, head: false },
    webhooks: webhooksPage.createWebhooksPage(el.pageWebhooks),
    settings: settingsPanel.createSettingsPanel($('#settings')),
    boot: null,
  };
  view.boot = () => boot(view);
  return view;
}

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

/** The address: #/webhooks, or #/bin/NAME[/ID] with the filter as ?q=… after it. */
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

function showPage(view, page) {
  const { state, el } = view;
  state.page = page;
  el.pageRequests.hidden = page !== 'requests';
  el.pageWebhooks.hidden = page !== 'webhooks';
  $('#tab-requests').classList.toggle('active', page === 'requests');
  $('#tab-webhooks').classList.toggle('active', page === 'webhooks');
  $('#tab-requests').href = state.bin ? routeHash(view, state.bin, null) : '#/';
}

/** Shows what the address names: the webhooks page, or a bin (the default one when none), a request, a filter. */
function onRoute(view) {
  const { state, el, conn, vlist } = view;
  const r = parseRoute();
  showPage(view, r.page);
  if (r.page === 'webhooks') {
    settingsPanel.close(view.settings);
    webhooksPage.show(view.webhooks);
    if (state.booted && (!conn.ws || conn.bin !== feedBin(view))) connect(view);
    return;
  }
  let bin = r.bin;
  // the filter is part of the address: shareable, and it survives a reload
  const qChanged = r.q !== state.q;
  if (qChanged) {
    state.q = r.q;
    el.search.value = r.q;
    showFilterError(view, null);
  }
  if (!bin) {
    bin = pickDefaultBin(view);
    if (bin) {
      history.replaceState(null, '', routeHash(view, bin, null));
      $('#tab-requests').href = routeHash(view, bin, null);
    }
  }
  if (bin !== state.bin || (!bin && !conn.ws)) {
    const open = settingsPanel.shownBin(view.settings);
    if (open && open !== bin) settingsPanel.close(view.settings);
    state.bin = bin;
    state.selected = r.id;
    vlist.pendingShift = 0;
    el.list.scrollTop = 0;
    renderBins(view);
    renderBinHead(view);
    showPage(view, 'requests');
    if (r.id != null) loadDetail(view, r.id);
    else renderDetailEmpty(view);
    reload(view);
  } else if (qChanged) {
    state.selected = r.id;
    if (r.id != null) loadDetail(view, r.id);
    reload(view);
  } else {
    // same bin: coming back from the webhooks page, the feed narrows to this bin again
    if (state.booted && conn.ws && conn.bin !== feedBin(view)) connect(view);
    if (r.id != null && r.id !== state.selected) {
      state.selected = r.id;
      loadDetail(view, r.id);
      scrollToSelected(view);
    }
  }
}

/** Loads the bins, then shows what the address names (retried by the feed until it works). */
async function boot(view) {
  const { state } = view;
  setConn(view, 'connecting', 'connecting…');
  try {
    await refreshBins(view);
  } catch (e) {
    if (e.status === 401) {
      setConn(view, 'offline', 'unauthorized — open the viewer with ?token=…');
      return;
    }
    scheduleReconnect(view);
    return;
  }
  state.booted = true;
  onRoute(view);
}


/** The list, its scrolling and the ageing relative times. */
function wireList(view) {
  const { state, el, vlist } = view;
  window.addEventListener('online', () => reconnectNow(view));
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && reconnectNow(view));
  window.addEventListener('resize', () => {
    vlist.rowHeight = 0;
    scheduleRender(view);
  });
  el.list.addEventListener('scroll', () => scheduleRender(view), { passive: true });
  el.list.addEventListener('click', (e) => {
    const row = e.target.closest('.row');
    if (row && row._id != null) select(view, row._id);
  });
  // relative times age; refresh the visible rows now and then (no network involved)
  setInterval(() => {
    state.rowVer++;
    scheduleRender(view);
    const when = el.detail.querySelector('[data-rel-time]');
    if (when) when.textContent = relTime(Number(when.dataset.relTime));
  }, 15000);
}

/** The search box (applied 250 ms after typing stops, or on Enter) and its help. */
function wireSearch(view) {
  const { el } = view;
  let searchTimer = 0;
  el.search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => applyFilter(view, el.search.value), 250);
  });
  el.search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(searchTimer);
      applyFilter(view, el.search.value);
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
    applyFilter(view, el.search.value);
  });
}

/** The bin actions (copy, clear, delete, settings, new bin) and the keyboard. */
function wireActions(view) {
  const { state, el } = view;
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
        deselect(view);
        reload(view);
      }
    } catch (e) {
      toast(`Cannot clear: ${e.message}`, 'error');
    }
  });
  $('#delete-bin').addEventListener('click', async () => {
    const bin = state.bin;
    if (!bin) return;
    if (!(await confirmAction(`Delete bin ${bin}?`, 'The bin, its settings and its requests are removed. It comes back when a request arrives.', 'Delete'))) return;
    if (!(await deleteOrGone(`/_/api/bins/${enc(bin)}`))) return;
    state.bins.delete(bin);
    state.bin = null;
    const next = pickDefaultBin(view);
    location.hash = next ? `#/bin/${enc(next)}` : '#/';
    if (!next) onRoute(view);
  });
  $('#bin-settings').addEventListener('click', () => state.bin && settingsPanel.open(view.settings, state.bin));
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
    createBin(view, name);
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
        applyFilter(view, '');
      } else if (!typing && state.selected != null) {
        deselect(view);
      }
      return;
    }
    if (typing || state.page !== 'requests') return;
    if (e.key === 'j' || e.key === 'ArrowDown') {
      e.preventDefault();
      moveSelection(view, 1);
    } else if (e.key === 'k' || e.key === 'ArrowUp') {
      e.preventDefault();
      moveSelection(view, -1);
    } else if (e.key === '/') {
      e.preventDefault();
      el.search.focus();
      el.search.select();
    } else if (e.key === 'p') {
      e.preventDefault();
      setPaused(view, !state.paused);
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
  $('#follow-btn').addEventListener('click', () => setPaused(view, !state.paused));
}

/** The theme button: auto, light, dark in turn, remembered. */
function wireTheme() {
  let theme = applyTheme(localStorage.getItem('hookpit.theme'));
  $('#theme-btn').addEventListener('click', () => {
    theme = applyTheme(THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length]);
    if (theme === 'auto') localStorage.removeItem('hookpit.theme');
    else localStorage.setItem('hookpit.theme', theme);
  });
}

const view = createView();
wireList(view);
wireSearch(view);
wireActions(view);
wireTheme();
window.addEventListener('hashchange', () => onRoute(view));

// read-only handle for diagnostics and the browser tests
window.hookpitViewer = Object.freeze({
  metrics: view.metrics,
  state: () => {
    const { state } = view;
    return { bin: state.bin, q: state.q, count: state.items.length, hasMore: state.hasMore, lastSeen: state.lastSeen, selected: state.selected, filterError: state.filterError, paused: state.paused, held: state.held.size };
  },
  ids: () => view.state.items.map((it) => it.id).reverse(),
  socket: () => view.conn.ws,
});

renderDetailEmpty(view);
boot(view);
