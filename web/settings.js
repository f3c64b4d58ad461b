// hookpit viewer bin settings panel: a drawer (<dialog id="settings">) that loads one bin's
// config (GET /_/api/bins/{bin}), edits it as a form (response, sequence with its live position
// and restart, fault, rate limit, signature verification, forward, capacity, advanced rules as
// JSON) or as
// raw JSON, and saves the WHOLE config with PUT (PUT replaces; keys the form does not show are
// carried over). A refusal's "field.path: message" is shown inline, next to that field.
// Config values and server messages only ever reach the DOM as text. The panel's state is one
// object (made by createSettingsPanel); every function here takes it first. Calls util.js and json.js.

import { api, h, fill, token, enc, statusClass } from './util.js';
import { parseJson, stringify } from './json.js';


const SCHEMES = [
  ['', 'Off'],
  ['standard-webhooks', 'Standard Webhooks (webhook-* / svix-*)'],
  ['github', 'GitHub (X-Hub-Signature-256)'],
  ['stripe', 'Stripe (Stripe-Signature)'],
  ['shopify', 'Shopify (X-Shopify-Hmac-Sha256)'],
  ['slack', 'Slack (X-Slack-Signature)'],
];
const MODES = [
  ['mirror', 'Mirror — answer at once, forward in the background'],
  ['passthrough', 'Passthrough — answer with the target’s response'],
];
const RULES_EXAMPLE = '[\n  {"match": "method:POST path:/stripe/refunds/*", "status": 409, "body": {"error": "duplicate"}}\n]';
/** Stands in for fault.seed while serialising, so a u64 seed keeps every digit. */
const SEED = '\u0001hookpit-seed\u0001';

/** A problem found before asking the server, worded like the server's: "field: message". */
class LocalError extends Error {
  constructor(field, message) {
    super(`${field}: ${message}`);
  }
}

/** Splits a bin summary's JSON text into the summary, its config object and fault.seed's literal. */
function parseSummary(text) {
  const summary = JSON.parse(text);
  const node = field(parseJson(text), 'config');
  const configText = node ? stringify(node) : '{}';
  return { summary, ...parseConfig(configText) };
}

function parseConfig(text) {
  const config = JSON.parse(text);
  let seed = null;
  try {
    const s = field(field(parseJson(text), 'fault'), 'seed');
    if (s && s.t === 'n') seed = s.v;
  } catch {
    seed = null;
  }
  return { config: config && typeof config === 'object' && !Array.isArray(config) ? config : {}, seed };
}

function field(node, key) {
  if (!node || node.t !== 'o') return undefined;
  const hit = node.e.find(([k]) => k === key);
  return hit ? hit[1] : undefined;
}

/** The config as JSON text, fault.seed written with its exact digits. */
function serialise(config, seed, indent = 0) {
  const copy = JSON.parse(JSON.stringify(config));
  const exact = copy.fault && copy.fault.seed !== undefined && seed != null;
  if (exact) copy.fault.seed = SEED;
  const text = JSON.stringify(copy, null, indent || undefined);
  return exact ? text.replace(JSON.stringify(SEED), seed) : text;
}

const isEmpty = (o) => !o || Object.keys(o).length === 0;

/**
 * The panel's state: the drawer element, the bin it shows, the config as saved and as edited, the
 * editor mode and the form's live elements (`slots`, `ctl`). Every function below takes it first.
 */
export function createSettingsPanel(dialog) {
  const st = {
    dialog,
    bin: null,
    summary: null,
    saved: {}, // the config as the server has it (for the sequence position)
    config: {}, // the base the form edits: keys it does not show are kept
    seed: null,
    mode: 'form',
    gen: 0,
    ctl: null,
    refreshTimer: 0,
    slots: {},
  };
  dialog.addEventListener('close', () => {
    st.bin = null;
    st.gen++;
    clearTimeout(st.refreshTimer);
  });
  // a click on the backdrop (outside the drawer) closes it
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
  return st;
}

/** Opens the drawer on `bin` and loads its config. */
export async function open(st, bin) {
  st.bin = bin;
  st.mode = 'form';
  const gen = ++st.gen;
  st.slots.modeSeg = null;
  fill(st.dialog, shell(st, h('div', { class: 'settings-body settings-loading' }, h('div', { class: 'spinner' }))));
  if (!st.dialog.open) st.dialog.showModal();
  let loaded;
  try {
    const text = await api(`/_/api/bins/${enc(bin)}`, { as: 'text' });
    loaded = parseSummary(text);
  } catch (e) {
    if (gen !== st.gen) return;
    if (e.status === 404) {
      // not created yet: saving creates it
      loaded = { summary: null, config: {}, seed: null };
    } else {
      fill(st.dialog, shell(st, h('div', { class: 'settings-body' }, h('div', { class: 'note error', role: 'alert' }, `Cannot load the settings of ${bin}: ${e.message}`))));
      return;
    }
  }
  if (gen !== st.gen) return;
  st.summary = loaded.summary;
  st.saved = loaded.config;
  st.config = loaded.config;
  st.seed = loaded.seed;
  render(st);
}

/** Closes the drawer (if open). */
export function close(st) {
  if (st.dialog.open) st.dialog.close();
}

// ---------------------------------------------------------------------------------------------
// Layout

/** The drawer: a head (title, Form/JSON switch, close) above `content`. */
function shell(st, content) {
  return h(
    'div',
    { class: 'settings-shell' },
    h(
      'div',
      { class: 'settings-head' },
      h('div', { class: 'settings-title' }, h('h2', { id: 'settings-title' }, 'Bin settings'), h('code', { class: 'settings-bin' }, st.bin || '')),
      st.slots.modeSeg || null,
      h('button', { class: 'icon-btn settings-close', type: 'button', title: 'Close (Esc)', 'aria-label': 'Close', onclick: () => close(st) }, '×')
    ),
    content
  );
}

function render(st) {
  st.slots.modeSeg = h(
    'div',
    { class: 'segmented settings-mode', role: 'tablist', 'aria-label': 'Editor' },
    [
      ['form', 'Form'],
      ['json', 'JSON'],
    ].map(([key, label]) =>
      h('button', { type: 'button', class: 'seg' + (st.mode === key ? ' active' : ''), dataset: { mode: key }, role: 'tab', 'aria-selected': st.mode === key ? 'true' : 'false', onclick: () => switchMode(st, key) }, label)
    )
  );
  st.slots.error = h('div', { class: 'note error settings-error', role: 'alert', hidden: true });
  st.slots.saveState = h('span', { class: 'settings-state muted', role: 'status' });
  st.slots.save = h('button', { class: 'btn primary settings-save', type: 'submit' }, 'Save');
  const body = h('div', { class: 'settings-body' }, st.mode === 'json' ? jsonEditor(st) : formFields(st));
  const foot = h(
    'div',
    { class: 'settings-foot' },
    st.slots.error,
    h('div', { class: 'actions-line' }, st.slots.save, h('button', { class: 'btn', type: 'button', onclick: () => close(st) }, 'Close'), st.slots.saveState)
  );
  st.slots.form = h('form', { class: 'settings-form', novalidate: true, onsubmit: (e) => onSubmit(st, e), oninput: (e) => onEdit(st, e), onchange: (e) => onEdit(st, e) }, body, foot);
  fill(st.dialog, shell(st, st.slots.form));
}

function setState(st, text, kind = '') {
  st.slots.saveState.textContent = text;
  st.slots.saveState.className = 'settings-state ' + (kind || 'muted');
}

function onEdit(st, e) {
  const t = e.target;
  setState(st, '');
  if (t && t.getAttribute('aria-invalid') === 'true') {
    t.removeAttribute('aria-invalid');
    const fe = t.closest('.form-row') && t.closest('.form-row').querySelector('.field-error');
    if (fe) fe.hidden = true;
  }
}

function row(label, control, hint, extra) {
  return h(
    'div',
    { class: 'form-row' + (extra ? ' ' + extra : '') },
    h('label', { class: 'field-label', htmlFor: control.id }, label),
    control,
    h('div', { class: 'field-error', hidden: true }),
    hint ? h('div', { class: 'hint' }, hint) : null
  );
}

function group(key, title, sub, ...kids) {
  return h(
    'section',
    { class: 'set-group', dataset: { group: key } },
    h('div', { class: 'set-group-head' }, h('h3', null, title), sub ? h('span', { class: 'hint' }, sub) : null),
    h('div', { class: 'field-error group-error', dataset: { field: key }, hidden: true }),
    kids
  );
}

function input(name, props = {}) {
  return h('input', { class: 'input' + (props.mono ? ' mono' : ''), id: 'set-' + name.replace(/\W/g, '-'), name, dataset: { field: name }, autocomplete: 'off', spellcheck: false, ...props, mono: null });
}

function textarea(name, value, props = {}) {
  return h('textarea', { class: 'input area mono', id: 'set-' + name.replace(/\W/g, '-'), name, dataset: { field: name }, spellcheck: false, value, ...props });
}

function select(name, options, value) {
  return h(
    'select',
    { class: 'input', id: 'set-' + name.replace(/\W/g, '-'), name, dataset: { field: name } },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label))
  );
}

const str = (v) => (v == null ? '' : String(v));

function formFields(st) {
  const c = st.config;
  const r = c.response || {};
  const f = c.fault || {};
  const v = c.verify || {};
  const fw = c.forward || {};
  const seq = c.sequence || [];
  const bodyText = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2);
  const ctl = {
    status: input('response.status', { type: 'number', min: 100, max: 999, placeholder: '200', value: str(r.status) }),
    delay: input('response.delay', { placeholder: '0ms', value: str(r.delay), mono: true }),
    headers: textarea('response.headers', (r.headers || []).map(([k, val]) => `${k}: ${val}`).join('\n'), { rows: 2, placeholder: 'Content-Type: application/json' }),
    body: textarea('response.body', bodyText, { rows: 3, placeholder: '{"ok":true,"id":{{id}}}' }),
    sequence: input('sequence', { placeholder: '500, 500, 200', value: seq.map((s) => str(s.status == null ? 200 : s.status)).join(', '), mono: true }),
    rate: input('fault.rate', { type: 'number', step: 'any', placeholder: '0.1', value: str(f.rate) }),
    fstatus: input('fault.status', { type: 'number', placeholder: '503', value: str(f.status) }),
    seed: input('fault.seed', { placeholder: 'random', value: st.seed != null ? st.seed : str(f.seed), mono: true, inputMode: 'numeric' }),
    fdelay: input('fault.delay', { placeholder: '0ms', value: str(f.delay), mono: true }),
    drop: h('input', { type: 'checkbox', id: 'set-fault-drop', name: 'fault.drop', dataset: { field: 'fault.drop' }, checked: !!f.drop }),
    scheme: select('verify.scheme', SCHEMES, v.scheme || ''),
    secret: input('verify.secret', { placeholder: 'whsec_… or the provider’s signing secret', value: str(v.secret), mono: true }),
    tolerance: input('verify.tolerance', { placeholder: '5m', value: str(v.tolerance), mono: true }),
    url: input('forward.url', { type: 'url', placeholder: 'http://127.0.0.1:3000/webhooks', value: str(fw.url), mono: true }),
    mode: select('forward.mode', MODES, fw.mode || 'mirror'),
    lrate: input('limit.rate', { type: 'number', min: 1, placeholder: 'off', value: str((c.limit || {}).rate) }),
    lper: input('limit.per', { placeholder: '1s', value: str((c.limit || {}).per), mono: true }),
    lburst: input('limit.burst', { type: 'number', min: 1, placeholder: '= rate', value: str((c.limit || {}).burst) }),
    lstatus: input('limit.status', { type: 'number', placeholder: '429', value: str((c.limit || {}).status) }),
    max: input('max_requests', { type: 'number', min: 1, placeholder: 'server default', value: str(c.max_requests) }),
    rules: textarea('rules', c.rules && c.rules.length ? JSON.stringify(c.rules, null, 2) : '', { rows: 4, placeholder: RULES_EXAMPLE }),
  };
  ctl.bodyInitial = bodyText;
  st.ctl = ctl;
  const verifyOn = () => {
    const on = !!ctl.scheme.value;
    ctl.secret.disabled = !on;
    ctl.tolerance.disabled = !on;
  };
  ctl.scheme.addEventListener('change', verifyOn);
  verifyOn();
  const richSteps = seq.map((s, i) => (Object.keys(s).some((k) => k !== 'status') ? i + 1 : 0)).filter(Boolean);

  st.slots.position = h('div', { class: 'seq-pos' });
  renderPosition(st);

  return [
    group(
      'response',
      'Response',
      'What every request gets, unless a rule, a sequence step or a fault says otherwise.',
      h('div', { class: 'form-cols' }, row('Status', ctl.status), row('Delay', ctl.delay)),
      row('Headers', ctl.headers, 'One “Name: value” a line.'),
      row('Body', ctl.body, 'Placeholders: {{id}} {{bin}} {{method}} {{path}} {{body}} {{header:Name}} {{query:key}} {{json:/pointer}}')
    ),
    group(
      'sequence',
      'Sequence',
      'Statuses answered in order, one per request, then the response above.',
      row('Statuses', ctl.sequence, richSteps.length ? `Step${richSteps.length > 1 ? 's' : ''} ${richSteps.join(', ')} also set headers, body or delay (kept; edit them in JSON).` : null),
      st.slots.position
    ),
    group(
      'fault',
      'Faults',
      'Answer a fraction of requests badly, to exercise a sender’s retries.',
      h('div', { class: 'form-cols four' }, row('Rate (0–1)', ctl.rate), row('Status', ctl.fstatus), row('Delay', ctl.fdelay), row('Seed', ctl.seed)),
      h('label', { class: 'switch check' }, ctl.drop, 'Drop the connection instead of answering')
    ),
    group(
      'limit',
      'Rate limit',
      'A token bucket: requests past it are answered with its status and Retry-After, and still recorded. Checked before everything else.',
      h('div', { class: 'form-cols four' }, row('Rate', ctl.lrate), row('Per', ctl.lper), row('Burst', ctl.lburst), row('Status', ctl.lstatus))
    ),
    group(
      'verify',
      'Signature verification',
      'Checks each request’s signature; the verdict is stored on the request (sig:valid / sig:invalid).',
      h('div', { class: 'form-cols wide-first' }, row('Scheme', ctl.scheme), row('Tolerance', ctl.tolerance)),
      row('Secret', ctl.secret)
    ),
    group(
      'forward',
      'Forward',
      'Pass every captured request on to your app and record its answer.',
      row('Target URL', ctl.url, 'The path after the bin name and the query are appended.'),
      row('Mode', ctl.mode)
    ),
    group('rules', 'Rules (advanced)', 'Responses for requests matching a filter, as JSON: [{"match", "status", "headers", "body", "delay"}].', row('Rules JSON', ctl.rules)),
    group('max_requests', 'Capacity', null, h('div', { class: 'form-cols' }, row('Max requests kept', ctl.max, 'Oldest are evicted beyond this.')))
  ];
}

function jsonEditor(st) {
  const area = textarea('config', serialise(st.config, st.seed, 2), { rows: 24, class: 'input area mono settings-json', 'aria-label': 'Bin config JSON' });
  st.slots.json = area;
  return [
    h(
      'div',
      { class: 'hint json-hint' },
      'The whole config; saving replaces it. Keys: response, rules, sequence, fault, verify, forward, max_requests, limit.'
    ),
    h('div', { class: 'form-row' }, area, h('div', { class: 'field-error', hidden: true }))
  ];
}

function renderPosition(st) {
  const el = st.slots.position;
  if (!el) return;
  const seq = st.saved.sequence || [];
  if (!seq.length) {
    fill(el, h('span', { class: 'muted seq-text' }, 'No sequence saved.'));
    return;
  }
  const p = Math.min(st.summary && st.summary.sequence_position != null ? st.summary.sequence_position : 0, seq.length);
  const chips = seq.map((s, i) => {
    const status = s.status == null ? 200 : s.status;
    const state = i < p ? 'used' : i === p ? 'next' : '';
    return h('span', { class: `seq-step ${state} ${statusClass(status)}`, title: `step ${i + 1}${i < p ? ' (used)' : i === p ? ' (next)' : ''}` }, String(status));
  });
  const text = p < seq.length ? `Next request gets step ${p + 1} of ${seq.length}` : `All ${seq.length} steps used — requests now get the response`;
  fill(
    el,
    h('div', { class: 'seq-steps' }, chips),
    h('span', { class: 'seq-text' }, text),
    h('button', { class: 'btn small seq-restart', type: 'button', disabled: p === 0, onclick: () => restartSequence(st) }, 'Restart sequence')
  );
}

// ---------------------------------------------------------------------------------------------
// Form <-> config

function numberOf(ctl, name, integer) {
  const raw = ctl.value.trim();
  if (ctl.validity && ctl.validity.badInput) throw new LocalError(name, 'not a number');
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new LocalError(name, `\`${raw}\` is not a number`);
  if (integer && !Number.isInteger(n)) throw new LocalError(name, `\`${raw}\` is not a whole number`);
  return n;
}

function parseHeaders(text) {
  const out = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf(':');
    if (at <= 0) throw new LocalError(`response.headers[${i}]`, `“${line.trim()}” is not “Name: value”`);
    out.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  });
  return out;
}

/** The whole config from the form, on top of the keys it does not show. Throws LocalError. */
function collect(st) {
  const c = st.ctl;
  const cfg = JSON.parse(JSON.stringify(st.config));
  let seed = null;

  const r = { ...(cfg.response || {}) };
  const set = (o, k, v) => {
    if (v === undefined || v === '') delete o[k];
    else o[k] = v;
  };
  set(r, 'status', numberOf(c.status, 'response.status', true));
  set(r, 'delay', c.delay.value.trim());
  const headers = parseHeaders(c.headers.value);
  set(r, 'headers', headers.length ? headers : undefined);
  if (c.body.value !== c.bodyInitial) set(r, 'body', c.body.value === '' ? undefined : c.body.value);
  if (isEmpty(r)) delete cfg.response;
  else cfg.response = r;

  const words = c.sequence.value.split(/[\s,;]+/).filter(Boolean);
  const old = cfg.sequence || [];
  const steps = words.map((w, i) => {
    if (!/^\d+$/.test(w)) throw new LocalError('sequence', `\`${w}\` is not a status code`);
    return { ...(old[i] || {}), status: Number(w) };
  });
  if (steps.length) cfg.sequence = steps;
  else delete cfg.sequence;

  const f = { ...(cfg.fault || {}) };
  set(f, 'rate', numberOf(c.rate, 'fault.rate', false));
  set(f, 'status', numberOf(c.fstatus, 'fault.status', true));
  set(f, 'delay', c.fdelay.value.trim());
  const seedText = c.seed.value.trim();
  if (seedText && !/^\d+$/.test(seedText)) throw new LocalError('fault.seed', `\`${seedText}\` is not a whole number`);
  set(f, 'seed', seedText ? Number(seedText) : undefined);
  if (seedText) seed = seedText;
  if (c.drop.checked) f.drop = true;
  else delete f.drop;
  if (isEmpty(f)) delete cfg.fault;
  else cfg.fault = f;

  if (c.scheme.value) {
    const v = { ...(cfg.verify || {}), scheme: c.scheme.value, secret: c.secret.value.trim() };
    set(v, 'tolerance', c.tolerance.value.trim());
    cfg.verify = v;
  } else {
    delete cfg.verify;
  }

  const url = c.url.value.trim();
  if (url) cfg.forward = { ...(cfg.forward || {}), url, mode: c.mode.value };
  else delete cfg.forward;

  const l = { ...(cfg.limit || {}) };
  set(l, 'rate', numberOf(c.lrate, 'limit.rate', true));
  set(l, 'per', c.lper.value.trim());
  set(l, 'burst', numberOf(c.lburst, 'limit.burst', true));
  set(l, 'status', numberOf(c.lstatus, 'limit.status', true));
  if (isEmpty(l)) delete cfg.limit;
  else if (l.rate === undefined) throw new LocalError('limit.rate', 'say how many requests per interval (or clear the other limit fields)');
  else cfg.limit = l;

  set(cfg, 'max_requests', numberOf(c.max, 'max_requests', true));

  const rulesText = c.rules.value.trim();
  if (rulesText) {
    let rules;
    try {
      rules = JSON.parse(rulesText);
    } catch (e) {
      throw new LocalError('rules', `not valid JSON (${e.message})`);
    }
    if (!Array.isArray(rules)) throw new LocalError('rules', 'expected a JSON array of rules');
    if (rules.length) cfg.rules = rules;
    else delete cfg.rules;
  } else {
    delete cfg.rules;
  }
  return { cfg, seed };
}

function readJsonEditor(st) {
  const text = st.slots.json.value.trim() || '{}';
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new LocalError('config', `not valid JSON (${e.message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new LocalError('config', 'expected a JSON object');
  return { text, ...parseConfig(text) };
}

function switchMode(st, mode) {
  if (mode === st.mode || !st.ctl) return;
  clearErrors(st);
  try {
    if (st.mode === 'form') {
      const { cfg, seed } = collect(st);
      st.config = cfg;
      st.seed = seed;
    } else {
      const { config, seed } = readJsonEditor(st);
      st.config = config;
      st.seed = seed;
    }
  } catch (e) {
    if (e instanceof LocalError) return showError(st, e.message);
    throw e;
  }
  st.mode = mode;
  render(st);
}

// ---------------------------------------------------------------------------------------------
// Saving, errors, sequence restart

async function onSubmit(st, e) {
  e.preventDefault();
  clearErrors(st);
  let text;
  try {
    if (st.mode === 'json') {
      text = readJsonEditor(st).text;
    } else {
      const { cfg, seed } = collect(st);
      text = serialise(cfg, seed);
    }
  } catch (err) {
    if (err instanceof LocalError) return showError(st, err.message);
    throw err;
  }
  const bin = st.bin;
  const gen = st.gen;
  st.slots.save.disabled = true;
  setState(st, 'Saving…');
  try {
    const answer = await send('PUT', `/_/api/bins/${enc(bin)}`, text);
    if (gen !== st.gen) return;
    const { summary, config, seed } = parseSummary(answer);
    st.summary = summary;
    st.saved = config;
    st.config = config;
    st.seed = seed;
    render(st);
    setState(st, 'Saved ✓', 'ok');
  } catch (err) {
    if (gen !== st.gen) return;
    setState(st, '');
    showError(st, err.message);
  } finally {
    if (st.slots.save) st.slots.save.disabled = false;
  }
}

/** PUT with the body as written (api() would re-serialise it and could round big numbers). */
async function send(method, path, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: 'no-store' });
  } catch {
    throw new Error('cannot reach hookpit');
  }
  const text = await res.text();
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`.trim();
    try {
      const j = JSON.parse(text);
      if (j && j.error && j.error.message) message = j.error.message;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return text;
}

function clearErrors(st) {
  if (st.slots.error) {
    st.slots.error.hidden = true;
    st.slots.error.textContent = '';
  }
  if (!st.slots.form) return;
  for (const el of st.slots.form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of st.slots.form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.textContent = '';
  }
}

/** Shows "field.path: message" at the foot and next to the field it names. */
function showError(st, message) {
  st.slots.error.textContent = message;
  st.slots.error.hidden = false;
  const m = /^([A-Za-z_][\w.[\]]*): /.exec(message);
  let target = null;
  if (m && st.slots.form) {
    // sequence[1].status -> sequence[1] -> sequence; response.headers[0] -> response.headers
    let path = m[1];
    while (path && !target) {
      const hits = [...st.slots.form.querySelectorAll('[data-field]')].filter((el) => el.dataset.field === path);
      target = hits.find((el) => !el.classList.contains('group-error')) || hits[0] || null;
      const next = path.replace(/(\[\d+\]|\.[^.[\]]+)$/, '');
      if (next === path) break;
      path = next;
    }
  }
  if (st.mode === 'json' && st.slots.json) target = st.slots.json;
  if (!target) return;
  if (target.classList.contains('group-error')) {
    target.textContent = message;
    target.hidden = false;
    target.scrollIntoView({ block: 'nearest' });
    return;
  }
  target.setAttribute('aria-invalid', 'true');
  const fe = target.closest('.form-row') && target.closest('.form-row').querySelector('.field-error');
  if (fe) {
    fe.textContent = message;
    fe.hidden = false;
  }
  target.scrollIntoView({ block: 'nearest' });
  target.focus({ preventScroll: true });
}

async function restartSequence(st) {
  const bin = st.bin;
  try {
    const s = await api(`/_/api/bins/${enc(bin)}/sequence`, { method: 'DELETE' });
    if (bin !== st.bin) return;
    if (s) st.summary = s;
    renderPosition(st);
    setState(st, 'Sequence restarted', 'ok');
  } catch (e) {
    showError(st, `Cannot restart the sequence: ${e.message}`);
  }
}

/** Re-reads the summary (the sequence position moves with every request). */
function refreshSoon(st) {
  clearTimeout(st.refreshTimer);
  const bin = st.bin;
  const gen = st.gen;
  st.refreshTimer = setTimeout(async () => {
    try {
      const s = await api(`/_/api/bins/${enc(bin)}`);
      if (gen !== st.gen) return;
      st.summary = s;
      renderPosition(st);
    } catch {
      // the next request or bin message tries again
    }
  }, 120);
}

/** The bin the open drawer shows (null when closed). */
export function shownBin(st) {
  return st.dialog.open ? st.bin : null;
}

/** A captured request arrived in a bin. */
export function onRequest(st, bin) {
  if (st.dialog.open && bin === st.bin && (st.saved.sequence || []).length) refreshSoon(st);
}

/** A `bin` message: the summary (and maybe the config) changed on the server. */
export function onBin(st, summary) {
  if (!st.dialog.open || !summary || summary.name !== st.bin) return;
  st.summary = summary;
  if (summary.config && typeof summary.config === 'object') st.saved = summary.config;
  renderPosition(st);
}
