// The bins: the sidebar list (and the narrow screen's select), the open bin's head (name, catch
// URL, counts, the settings button's active dot), creating a bin and choosing the default one.
// Bin summaries live in `view.state.bins`; bursts of updates are drawn at most every 100 ms.
//
// Calls only util.js.

import { api, h, fill, $, enc, fmtCount, toast } from './util.js';

/** A bin name the server accepts (also what a #/bin/NAME address may name). */
export const BIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The URL that captures into `bin`. */
export const catchUrl = (bin) => `${location.origin}/${bin}`;

export async function refreshBins(view) {
  const res = await api('/_/api/bins');
  setBins(view, res.bins || []);
}

export function setBins(view, list) {
  const { state } = view;
  state.bins = new Map(list.map((b) => [b.name, b]));
  renderBins(view);
  renderBinHead(view);
}

export function bumpBin(view, name, delta) {
  const { state } = view;
  const b = state.bins.get(name);
  if (b) b.count = Math.max(0, (b.count || 0) + delta);
  renderBinsSoon(view);
}

/** Runs `draw` once, 100 ms after the first ask; asks meanwhile join it (`queued[key]` marks it due). */
function drawSoon(queued, key, draw) {
  if (queued[key]) return;
  queued[key] = true;
  setTimeout(() => {
    queued[key] = false;
    draw();
  }, 100);
}

export function renderBinsSoon(view) {
  drawSoon(view.queued, 'bins', () => {
    renderBins(view);
    renderBinHead(view);
  });
}

export function renderBinHeadSoon(view) {
  drawSoon(view.queued, 'head', () => renderBinHead(view));
}

function binNames(view) {
  const { state } = view;
  const names = [...state.bins.keys()];
  if (state.bin && !state.bins.has(state.bin)) names.push(state.bin);
  return names.sort((a, b) => a.localeCompare(b));
}

export function renderBins(view) {
  const { state, el } = view;
  const names = binNames(view);
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

export function renderBinHead(view) {
  const { state, el } = view;
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

export async function createBin(view, name) {
  const { state } = view;
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

export function pickDefaultBin(view) {
  const { state } = view;
  let best = null;
  for (const b of state.bins.values()) if (!best || (b.last_id || 0) > (best.last_id || 0)) best = b;
  return best ? best.name : null;
}
