// The request list of the open bin: its rows (`view.state.items`, ascending by id, body left out),
// paging (the first page, then older pages in the background), live inserts that keep the visible
// rows still, and the virtual list that draws only the visible rows (plus a few) at a fixed row
// height, positioned by transform (`view.vlist`). Also what surrounds it: the empty and error
// states, the foot with the counts and export links, the filter's error, the pause button, and
// the address of a bin, selection and filter.
//
// Calls util.js and bins.js.

import { api, h, fill, $, withToken, enc, fmtSize, fmtCount, parseTime, relTime, absTime, header, copyText, toast, methodClass, statusClass, shortType } from './util.js';
import { catchUrl, renderBinHead, renderBinHeadSoon } from './bins.js';

export const FIRST_PAGE = 200;
const MORE_PAGE = 2000;
const OVERSCAN = 8;
const FRESH_MS = 2500;

/** Keeps only what a list row needs: the body text stays on the server. */
export function slim(r) {
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

export function requestsUrl(view, params) {
  const { state } = view;
  const p = new URLSearchParams({ body: 'false', ...params });
  if (state.q) p.set('q', state.q);
  return `/_/api/bins/${enc(state.bin)}/requests?${p}`;
}

export function clearItems(view) {
  const { state } = view;
  state.items = [];
  state.ids.clear();
  state.fresh.clear();
  scheduleRender(view);
}

/** Fetches older pages in the background so the whole bin is scrollable. */
export async function loadOlder(view, gen) {
  const { state, metrics } = view;
  while (state.hasMore && gen === state.gen) {
    const oldest = state.items.length ? state.items[0].id : null;
    if (oldest == null) break;
    let page;
    try {
      page = await api(requestsUrl(view, { limit: MORE_PAGE, before: oldest }));
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
    renderBinHead(view);
    scheduleRender(view);
  }
  if (gen === state.gen) {
    metrics.allLoadedAt = performance.now();
    scheduleRender(view);
  }
}

export function notePaint(view, gen) {
  const { state, el, metrics } = view;
  requestAnimationFrame(() =>
    setTimeout(() => {
      if (gen !== state.gen || metrics.listPaintedAt != null) return;
      metrics.listPaintedAt = performance.now();
      metrics.listPaintedRows = el.spacer.querySelectorAll('.row:not([hidden])').length;
    }, 0)
  );
}

export function findIndex(view, id) {
  const { state } = view;
  let lo = 0;
  let hi = state.items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (state.items[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function insertItem(view, it, live) {
  const { state, el, vlist } = view;
  const arr = state.items;
  let idx;
  if (!arr.length || arr[arr.length - 1].id < it.id) {
    arr.push(it);
    idx = arr.length - 1;
  } else {
    idx = findIndex(view, it.id);
    if (arr[idx] && arr[idx].id === it.id) return;
    arr.splice(idx, 0, it);
  }
  state.ids.set(it.id, it);
  if (live) {
    state.fresh.set(it.id, performance.now());
    setTimeout(() => scheduleRender(view), FRESH_MS + 50);
    // keep what the user is looking at still when rows arrive above it
    const visual = arr.length - 1 - idx;
    if (el.list.scrollTop > 2 && visual * ROW(vlist) <= el.list.scrollTop) vlist.pendingShift += ROW(vlist);
  }
  scheduleRender(view);
  renderBinHeadSoon(view);
}

/** Drops a request's row; false when the list did not hold it. */
export function removeItem(view, id) {
  const { state } = view;
  const it = state.ids.get(id);
  if (!it) return false;
  const idx = findIndex(view, id);
  if (state.items[idx] && state.items[idx].id === id) state.items.splice(idx, 1);
  state.ids.delete(id);
  scheduleRender(view);
  return true;
}

/** Drops the oldest rows beyond the bin's kept count (the server evicted them). */
export function trimToCount(view) {
  const { state } = view;
  const b = state.bins.get(state.bin);
  if (!b || state.hasMore || state.q) return;
  const excess = state.items.length - b.count;
  if (excess > 0 && b.count >= 0) {
    const gone = state.items.splice(0, excess);
    for (const it of gone) state.ids.delete(it.id);
    scheduleRender(view);
  }
}

/** The row height, read once from the stylesheet's --row-h (forgotten on resize). */
export const ROW = (vlist) => vlist.rowHeight || (vlist.rowHeight = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--row-h')) || 56);

export function scheduleRender(view) {
  const { vlist } = view;
  if (vlist.renderQueued) return;
  vlist.renderQueued = true;
  requestAnimationFrame(() => {
    vlist.renderQueued = false;
    renderListNow(view);
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

function updateRow(view, row, it, vi) {
  const { state, vlist } = view;
  const rh = ROW(vlist);
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

export function renderListNow(view) {
  const { state, el, vlist } = view;
  const n = state.items.length;
  const rh = ROW(vlist);
  el.spacer.style.height = n * rh + 'px';
  if (vlist.pendingShift) {
    el.list.scrollTop += vlist.pendingShift;
    vlist.pendingShift = 0;
  }
  const top = el.list.scrollTop;
  const height = el.list.clientHeight || 600;
  const first = Math.max(0, Math.floor(top / rh) - OVERSCAN);
  const last = Math.min(n, Math.ceil((top + height) / rh) + OVERSCAN);
  const needed = Math.max(0, last - first);
  while (vlist.pool.length < needed) {
    const r = makeRow();
    vlist.pool.push(r);
    el.spacer.append(r);
  }
  for (let k = 0; k < vlist.pool.length; k++) {
    const row = vlist.pool[k];
    if (k >= needed) {
      if (!row.hidden) {
        row.hidden = true;
        row._id = null;
      }
      continue;
    }
    const vi = first + k;
    row.hidden = false;
    updateRow(view, row, state.items[n - 1 - vi], vi);
  }
  renderListState(view);
}

function renderListState(view) {
  const { state, el } = view;
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
    empty = waitingState(view);
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
  renderExports(view);
}

/** The export links: the bin, or only what the filter matches. */
function renderExports(view) {
  const { state } = view;
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

function waitingState(view) {
  const { state } = view;
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

export function scrollToSelected(view) {
  const { state, el, vlist } = view;
  const id = state.selected;
  if (id == null || !state.ids.has(id)) return;
  const vi = state.items.length - 1 - findIndex(view, id);
  const rh = ROW(vlist);
  const top = vi * rh;
  const height = el.list.clientHeight;
  if (top < el.list.scrollTop) el.list.scrollTop = top;
  else if (top + rh > el.list.scrollTop + height) el.list.scrollTop = top + rh - height;
  scheduleRender(view);
}

/** The viewer's address for a bin, a selected request and the current filter. */
export function routeHash(view, bin, id) {
  const { state } = view;
  let hash = `#/bin/${enc(bin)}`;
  if (id != null) hash += `/${id}`;
  if (state.q) hash += `?${new URLSearchParams({ q: state.q })}`;
  return hash;
}

/** Shows (or, with null, hides) the filter's refusal under the search box. */
export function showFilterError(view, message) {
  const { state, el } = view;
  state.filterError = message;
  el.searchError.hidden = !message;
  el.searchError.textContent = message || '';
  el.search.classList.toggle('invalid', !!message);
  el.search.setAttribute('aria-invalid', message ? 'true' : 'false');
}

/** The pause button: paused or live, and how many requests wait. */
export function renderFollow(view) {
  const { state } = view;
  const btn = $('#follow-btn');
  const n = state.held.size;
  btn.setAttribute('aria-pressed', state.paused ? 'true' : 'false');
  const count = `${fmtCount(n)}${state.heldOverflow ? '+' : ''}`;
  btn.textContent = state.paused ? (n ? `▶ ${count} new` : '▶') : '❚❚';
  btn.setAttribute('aria-label', state.paused ? (n ? `Resume (${count} new)` : 'Resume') : 'Pause');
  btn.title = state.paused ? 'The live list is paused: new requests wait here (p to resume)' : 'Pause the live list (p): new requests wait until you resume';
}
