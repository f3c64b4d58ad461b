// The detail pane: the selected request (selection from a click, the keys or the address; the
// next one after a delete), its overview (signature verdict with why it failed and the expected
// and received signatures, forward result), its tabs (body
// views, headers, query, the response hookpit sent, the forward target's answer, replay), copy as
// curl, download and delete. Full requests are kept in a small cache (`view.pane`) so live
// updates and reselection need no round trip; a request that went away is reported as gone.
// Captured data only ever reaches the DOM as text.
//
// Calls list.js (rows, scrolling, the address) and body.js/json.js to render bodies.

import { api, h, fill, withToken, enc, fmtSize, parseTime, relTime, absTime, headerText, copyText, toast, deleteOrGone, methodClass, statusClass } from './util.js';
import { bodyContext, bodyViews, renderBodyView, kvTable, valueView } from './body.js';
import { findIndex, removeItem, scheduleRender, scrollToSelected, routeHash } from './list.js';

export /** Keeps a request's full JSON for the pane (a small LRU: the last 100 shown or seen live). */
function cacheDetail(view, r) {
  const { pane } = view;
  pane.cache.delete(r.id);
  pane.cache.set(r.id, r);
  while (pane.cache.size > 100) pane.cache.delete(pane.cache.keys().next().value);
}

export function select(view, id) {
  const { state } = view;
  if (id == null) return;
  state.selected = id;
  history.replaceState(null, '', routeHash(view, state.bin, id));
  scheduleRender(view);
  loadDetail(view, id);
}

export function deselect(view) {
  const { state, pane } = view;
  state.selected = null;
  pane.gen++;
  if (state.bin) history.replaceState(null, '', routeHash(view, state.bin, null));
  scheduleRender(view);
  renderDetailEmpty(view);
}

export function moveSelection(view, delta) {
  const { state } = view;
  const n = state.items.length;
  if (!n) return;
  let vi;
  if (state.selected == null || !state.ids.has(state.selected)) vi = delta > 0 ? 0 : n - 1;
  else vi = Math.min(n - 1, Math.max(0, n - 1 - findIndex(view, state.selected) + delta));
  select(view, state.items[n - 1 - vi].id);
  scrollToSelected(view);
}

export async function loadDetail(view, id, keepScroll = false) {
  const { el, pane } = view;
  const g = ++pane.gen;
  const cached = pane.cache.get(id);
  if (cached) {
    renderDetail(view, cached, keepScroll);
    return;
  }
  const slow = keepScroll ? 0 : setTimeout(() => g === pane.gen && fill(el.detail, h('div', { class: 'detail-empty' }, h('div', { class: 'spinner' }))), 150);
  try {
    const r = await api(`/_/api/requests/${enc(id)}`);
    clearTimeout(slow);
    if (g !== pane.gen) return;
    cacheDetail(view, r);
    renderDetail(view, r, keepScroll);
  } catch (e) {
    clearTimeout(slow);
    if (g !== pane.gen) return;
    if (e.status === 404) showDetailGone(view, id);
    else fill(el.detail, h('div', { class: 'detail-empty' }, h('div', { class: 'empty-title' }, 'Cannot load request'), h('div', { class: 'empty-text' }, e.message)));
  }
}

/** A request left the bin: its row and cached detail go; the pane says so when it showed it. */
export function forgetRequest(view, id) {
  const { state, pane } = view;
  if (!removeItem(view, id)) return;
  pane.cache.delete(id);
  if (state.selected === id) showDetailGone(view, id);
}

function showDetailGone(view, id) {
  const { el, pane } = view;
  pane.goneId = id;
  fill(
    el.detail,
    h('div', { class: 'detail-empty' }, h('div', { class: 'empty-title' }, `Request #${id} is gone`), h('div', { class: 'empty-text' }, 'It was deleted, cleared or evicted to make room for newer requests.'))
  );
}

export function renderDetailEmpty(view) {
  const { el } = view;
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
export function renderDetail(view, req, keepScroll = false) {
  const { state, el, pane } = view;
  pane.goneId = null;
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
    h('button', { class: 'btn small', type: 'button', onclick: () => switchTab(view, 'replay') }, 'Replay…'),
    h('button', { class: 'btn small danger', type: 'button', onclick: () => deleteRequest(view, req.id) }, 'Delete')
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
    req.signature && req.signature.expected ? ov('Expected sig', h('code', { class: 'sig-expected', title: 'What the bin’s secret gives over the body as received' }, req.signature.expected)) : null,
    req.signature && req.signature.received ? ov('Received sig', h('code', { class: 'sig-received', title: 'The signature the request carried' }, req.signature.received)) : null,
    req.forward
      ? ov(
          'Forwarded',
          h(
            'span',
            { class: 'fwd-summary' },
            req.forward.error ? h('span', { class: 'tag bad' }, 'failed') : statusPill(req.forward.status),
            req.forward.latency_ms != null ? h('span', { class: 'muted' }, ` ${fmtMs(req.forward.latency_ms)} · `) : ' ',
            h('button', { class: 'link-btn', type: 'button', title: 'Show the forward target’s answer', onclick: () => switchTab(view, 'forward') }, 'details')
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
        { class: 'dtab', type: 'button', role: 'tab', dataset: { tab: x.key }, onclick: () => switchTab(view, x.key) },
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
        fill(panel, replayPanel(view, req));
        break;
      default:
        fill(panel, bodyPanel(view, req, ctx, views));
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
      h('button', { class: 'btn small ghost back', type: 'button', onclick: () => deselect(view), title: 'Close (Esc)' }, '←'),
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

function switchTab(view, key) {
  const { el } = view;
  if (el.detail._switchTab) el.detail._switchTab(key);
}

function bodyPanel(view, req, ctx, views) {
  const { state } = view;
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

/** Headers hookpit writes itself when it sends (from the URL and the body): not offered for editing. */
const FRAMING = ['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];

/** A header value as the edit form shows it: text, or the base64 of bytes that are not text. */
const headerValueText = (v) => (v && typeof v === 'object' ? v.base64 : String(v ?? ''));

/** The replay edit of `req`: kept in the pane so a re-render (a live update) keeps what was typed. */
function replayEdit(pane, req) {
  if (!pane.replayEdit || pane.replayEdit.id !== req.id) {
    const body = req.body || {};
    const headers = (req.headers || []).filter(([n]) => !FRAMING.includes(String(n).toLowerCase()));
    pane.replayEdit = {
      id: req.id,
      rows: headers.map(([name, value]) => ({ name, value: headerValueText(value), raw: value })),
      headersEdited: false,
      text: body.encoding === 'utf8' ? body.text || '' : null,
      bodyEdited: false,
      resign: false,
    };
  }
  return pane.replayEdit;
}

/** The replay body the form asks for: headers and body only when they were edited. */
function replayRequest(url, edit) {
  const json = { url };
  if (edit.resign) json.resign = true;
  if (edit.headersEdited) {
    json.headers = edit.rows
      .filter((r) => r.name.trim() !== '')
      .map((r) => [r.name.trim(), r.raw && typeof r.raw === 'object' && r.value === r.raw.base64 ? r.raw : r.value]);
  }
  if (edit.bodyEdited && edit.text != null) json.body = edit.text;
  return json;
}

function replayPanel(view, req) {
  const { pane } = view;
  const edit = replayEdit(pane, req);
  const saved = pane.replayDraft != null ? pane.replayDraft : localStorage.getItem('hookpit.replayUrl') || '';
  const input = h('input', { class: 'input mono', type: 'url', placeholder: 'http://127.0.0.1:3000/webhooks', value: saved, spellcheck: false, 'aria-label': 'Replay target URL', oninput: () => (pane.replayDraft = input.value) });
  const out = h('div', { class: 'replay-out' });
  const btn = h('button', { class: 'btn primary', type: 'submit' }, 'Send');

  // Re-sign: only a bin that checks signatures has a scheme and secret to sign with
  const resign = h('input', { type: 'checkbox', class: 'replay-resign', disabled: true, checked: edit.resign, onchange: () => (edit.resign = resign.checked) });
  const resignHint = h('span', { class: 'hint replay-resign-hint' }, 'checking the bin’s signature settings…');
  api(`/_/api/bins/${enc(req.bin)}`)
    .then((b) => {
      const v = b && b.config && b.config.verify;
      if (v && v.scheme) {
        resign.disabled = false;
        fill(resignHint, `${v.scheme}, with bin ${req.bin}’s secret, a fresh timestamp${v.scheme === 'standard-webhooks' ? ' and message id' : ''}`);
      } else {
        resign.checked = edit.resign = false;
        fill(resignHint, `Bin ${req.bin} checks no signatures: set “Signature check” in its settings to re-sign.`);
      }
    })
    .catch((err) => fill(resignHint, `Cannot re-sign: ${err.message}`));

  const rowsEl = h('div', { class: 'replay-headers' });
  const drawRows = () =>
    fill(
      rowsEl,
      edit.rows.map((r, i) =>
        h(
          'div',
          { class: 'replay-hrow' },
          h('input', { class: 'input mono replay-hname', value: r.name, placeholder: 'Name', spellcheck: false, 'aria-label': `Header ${i + 1} name`, oninput: (e) => ((r.name = e.target.value), (edit.headersEdited = true)) }),
          h('input', { class: 'input mono replay-hvalue', value: r.value, placeholder: 'value', spellcheck: false, 'aria-label': `Header ${i + 1} value`, oninput: (e) => ((r.value = e.target.value), (edit.headersEdited = true)) }),
          h('button', { class: 'btn small ghost replay-hremove', type: 'button', title: 'Remove this header', 'aria-label': `Remove header ${r.name}`, onclick: () => (edit.rows.splice(i, 1), (edit.headersEdited = true), drawRows()) }, '×')
        )
      )
    );
  drawRows();
  const addRow = h('button', { class: 'btn small replay-hadd', type: 'button', onclick: () => (edit.rows.push({ name: '', value: '', raw: null }), (edit.headersEdited = true), drawRows(), rowsEl.lastChild.firstChild.focus()) }, 'Add header');

  const body =
    edit.text != null
      ? h('textarea', { class: 'input area mono replay-body', rows: 8, spellcheck: false, value: edit.text, 'aria-label': 'Body to send', oninput: (e) => ((edit.text = e.target.value), (edit.bodyEdited = true)) })
      : h('div', { class: 'hint' }, 'This body is not text: it is sent as captured.');
  const bodyNote = (req.body || {}).truncated ? h('div', { class: 'hint' }, 'The captured body was cut at the size limit; what is shown is what is sent.') : null;

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
          const r = await api(`/_/api/requests/${enc(req.id)}/replay`, { method: 'POST', json: replayRequest(url, edit) });
          fill(out, replayResult(r));
        } catch (err) {
          fill(out, h('div', { class: 'note error' }, `Replay failed: ${err.message}`));
        } finally {
          btn.disabled = false;
        }
      },
    },
    h('label', { class: 'field-label' }, `Send this ${req.method} (edited below, or as captured) to`),
    h('div', { class: 'row-input' }, input, btn),
    h('label', { class: 'switch check replay-resign-label' }, resign, 'Re-sign'),
    resignHint,
    h('div', { class: 'field-label' }, 'Headers ', h('span', { class: 'hint' }, 'Host and Content-Length are written from the URL and the body.')),
    rowsEl,
    h('div', null, addRow),
    h('div', { class: 'field-label' }, 'Body'),
    body,
    bodyNote
  );
  return h('div', { class: 'replay-panel' }, form, out);
}

function replayResult(r) {
  if (r.error) {
    return h('div', { class: 'replay-result' }, h('div', { class: 'resp-line' }, h('span', { class: 'tag bad' }, 'error'), ' ', r.error, r.latency_ms != null ? h('span', { class: 'muted' }, ` · ${Math.round(r.latency_ms)} ms`) : null));
  }
  const sent = r.sent || {};
  return h(
    'div',
    { class: 'replay-result' },
    h(
      'div',
      { class: 'resp-line' },
      statusPill(r.status),
      h('span', { class: 'muted' }, ` · ${r.latency_ms != null ? Math.round(r.latency_ms) + ' ms' : ''}`),
      sent.resigned ? [' ', h('span', { class: 'tag ok replay-resigned' }, 're-signed')] : null,
      sent.body_size != null ? h('span', { class: 'muted' }, ` · sent ${fmtSize(sent.body_size)}`) : null
    ),
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

export async function deleteRequest(view, id) {
  const { state } = view;
  const n = state.items.length;
  const vi = state.ids.has(id) ? n - 1 - findIndex(view, id) : -1;
  if (!(await deleteOrGone(`/_/api/requests/${enc(id)}`))) return;
  forgetRequest(view, id);
  const m = state.items.length;
  if (m && vi >= 0) select(view, state.items[m - 1 - Math.min(vi, m - 1)].id);
  else deselect(view);
}
