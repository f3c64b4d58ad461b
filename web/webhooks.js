// hookpit viewer webhooks page (the sender), modelled on Ultimate Multisite's webhook screen: the
// list of webhooks, add/edit (every field the API takes; its 400s shown by the field they name), the chosen event's sample payload, Send
// Test Event with its verdict, and the delivery log with attempts and redelivery, kept live from
// websocket `delivery` messages; each attempt shows the exchange (the request sent: URL, headers,
// body; the answer: status, headers, body). Degrades to an error line when the sender API is not
// there. The page's state is one object (made by createWebhooksPage); every function here takes it
// first. Calls util.js, json.js and body.js.

import { api, h, fill, token, enc, relTime, absTime, parseTime, copyText, toast, confirmAction, statusClass } from './util.js';
import { parseJson, stringify } from './json.js';
import { kvTable, valueView } from './body.js';


const COLUMN_HELP = {
  Sent: 'Deliveries made to this webhook: each event counts once, however many attempts it took. Send Test Event is not counted.',
  'Last status': 'The status of the last attempt of a real delivery (Send Test Event aside).',
};

/**
 * The page's state: its root element, what was loaded (webhooks, the event catalog, the selected
 * webhook's deliveries), the selection, the live parts to refresh (`slots`) and the attempts already
 * counted per delivery (`seen`). Every function below takes it first.
 */
export function createWebhooksPage(root) {
  return {
    root,
    loaded: false,
    webhooks: [],
    events: [],
    deliveries: [],
    selected: null, // webhook id, or 'new'
    error: null,
    eventsError: null,
    deliveriesError: null,
    testEvent: null,
    open: new Set(), // expanded delivery ids
    slots: { list: null, log: null },
    seen: new Map(), // delivery id -> attempts already seen (counted once)
  };
}

async function load(st) {
  st.error = null;
  try {
    const [w, e] = await Promise.all([api('/_/api/webhooks'), api('/_/api/events', { as: 'text' }).catch((err) => ({ error: err }))]);
    st.webhooks = w.webhooks || [];
    if (e.error) st.eventsError = e.error.message;
    else st.events = catalog(e);
  } catch (err) {
    st.error = err.status === 404 ? 'The webhook sender is not available on this server yet (GET /_/api/webhooks answered 404).' : `Cannot load webhooks: ${err.message}`;
  }
  st.loaded = true;
  if (st.selected == null && st.webhooks.length) st.selected = st.webhooks[0].id;
  await loadDeliveries(st);
  render(st);
}

async function loadDeliveries(st) {
  st.deliveries = [];
  st.deliveriesError = null;
  if (st.selected == null || st.selected === 'new') return;
  try {
    const d = await api(`/_/api/deliveries?webhook=${enc(st.selected)}`);
    st.deliveries = (d.deliveries || []).slice();
    sortDeliveries(st);
  } catch (err) {
    st.deliveriesError = `Cannot load deliveries: ${err.message}`;
  }
}

function sortDeliveries(st) {
  st.deliveries.sort((a, b) => lastAt(b) - lastAt(a));
}

function lastAt(d) {
  const a = d.attempts || [];
  return a.length ? parseTime(a[a.length - 1].at) : 0;
}

/** The event catalog, parsed losslessly so sample payloads keep their number literals. */
function catalog(text) {
  const root = parseJson(text);
  const field = (node, key) => (node.t === 'o' ? (node.e.find(([k]) => k === key) || [])[1] : undefined);
  const str = (node) => (node && node.t === 's' ? node.v : '');
  const list = field(root, 'events');
  if (!list || list.t !== 'a') return [];
  return list.e.map((ev) => {
    const sample = field(ev, 'sample');
    return {
      name: str(field(ev, 'name')),
      title: str(field(ev, 'title')),
      description: str(field(ev, 'description')),
      sampleText: sample ? stringify(sample) : '{}',
    };
  });
}
const current = (st) => st.webhooks.find((w) => w.id === st.selected) || null;
const eventInfo = (st, name) => st.events.find((e) => e.name === name) || null;

function render(st) {
  if (!st.loaded) {
    fill(st.root, h('div', { class: 'wh-wrap' }, header(st), h('div', { class: 'card' }, h('div', { class: 'card-body' }, h('div', { class: 'spinner' })))));
    return;
  }
  if (st.error) {
    fill(st.root, h('div', { class: 'wh-wrap' }, header(st), h('div', { class: 'card' }, h('div', { class: 'error-line', role: 'alert' }, st.error))));
    return;
  }
  const w = st.selected === 'new' ? null : current(st);
  st.slots.list = h('div', null, listCard(st));
  st.slots.log = w ? h('div', null, deliveriesCard(st, w)) : null;
  fill(
    st.root,
    h(
      'div',
      { class: 'wh-wrap' },
      header(st),
      st.slots.list,
      st.selected === 'new' || w ? h('div', { class: 'wh-grid' }, formCard(st, w), testCard(st, w)) : null,
      st.slots.log
    )
  );
}

/** Re-renders only the live parts (list counters, delivery log), leaving forms untouched. */
function renderLive(st) {
  if (!st.loaded || st.error) return;
  if (st.slots.list) fill(st.slots.list, listCard(st));
  const w = current(st);
  if (st.slots.log && w) fill(st.slots.log, deliveriesCard(st, w));
}

function header(st) {
  return h(
    'div',
    { class: 'wh-head' },
    h('div', null, h('h1', null, 'Webhooks'), h('div', { class: 'sub' }, 'Send signed events to your app, retry on failure, and inspect every attempt.')),
    h('div', { class: 'grow' }),
    st.error
      ? null
      : h(
          'button',
          {
            class: 'btn primary add-webhook',
            type: 'button',
            onclick: () => {
              st.selected = 'new';
              st.deliveries = [];
              render(st);
            },
          },
          'Add New Webhook'
        )
  );
}

function listCard(st) {
  if (!st.webhooks.length) {
    return h('div', { class: 'card' }, h('div', { class: 'card-body muted' }, 'No webhooks yet. Add one to start sending events.'));
  }
  return h(
    'div',
    { class: 'card' },
    h(
      'table',
      { class: 'grid' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Name', 'URL', 'Events', 'Sent', 'Last status', 'Active'].map((t) => h('th', { title: COLUMN_HELP[t] || null }, t))
        )
      ),
      h(
        'tbody',
        null,
        st.webhooks.map((w) =>
          h(
            'tr',
            {
              class: 'clickable' + (w.id === st.selected ? ' active' : ''),
              dataset: { id: String(w.id) },
              onclick: async () => {
                st.selected = w.id;
                st.testEvent = null;
                await loadDeliveries(st);
                render(st);
              },
            },
            h('td', { class: 'wh-name' }, w.name || '(unnamed)'),
            h('td', { class: 'wh-url' }, w.url || ''),
            h('td', null, h('div', { class: 'chips' }, (w.events || []).slice(0, 4).map((e) => h('span', { class: 'chip' }, e)), (w.events || []).length > 4 ? h('span', { class: 'chip' }, `+${w.events.length - 4}`) : null)),
            h('td', null, String(w.sent_count ?? 0)),
            h('td', null, w.last_status == null ? h('span', { class: 'muted' }, '—') : h('span', { class: 'status-pill ' + statusClass(w.last_status) }, String(w.last_status))),
            h('td', null, h('span', { class: 'switch' }, h('span', { class: 'dot-state' + (w.active ? ' on' : '') }), w.active ? 'Active' : 'Inactive'))
          )
        )
      )
    )
  );
}

/** Add/edit form: every field the API accepts; a 400 is shown under the field it names. */
function formCard(st, w) {
  const isNew = !w;
  const name = h('input', { class: 'input', value: w ? w.name || '' : '', placeholder: 'My app', required: true, 'aria-label': 'Name' });
  const url = h('input', { class: 'input mono', type: 'url', value: w ? w.url || '' : '', placeholder: 'http://127.0.0.1:3000/webhooks', required: true, 'aria-label': 'URL' });
  const chosen = new Set(w ? w.events || [] : []);
  const all = h('input', { type: 'checkbox', checked: chosen.has('*') });
  const boxes = st.events.map((e) => {
    const cb = h('input', { type: 'checkbox', value: e.name, checked: chosen.has(e.name) || chosen.has('*') });
    return { cb, label: h('label', { title: e.description || '' }, cb, e.name) };
  });
  all.addEventListener('change', () => boxes.forEach((b) => (b.cb.checked = all.checked)));
  const active = h('input', { type: 'checkbox', checked: w ? !!w.active : true, 'aria-label': 'Active' });
  const insecure = h('input', { type: 'checkbox', checked: w ? !!w.insecure_tls : false, 'aria-label': 'Accept any TLS certificate' });
  const original = w ? w.secret || '' : '';
  let regenerate = false;
  const secret = h('input', {
    class: 'input mono',
    value: original,
    placeholder: isNew ? 'generated on save, or paste your app’s own' : 'a new secret is generated on save',
    spellcheck: false,
    autocomplete: 'off',
    'aria-label': 'Secret',
    oninput: () => (regenerate = false),
  });
  const signature = h(
    'select',
    { class: 'input', 'aria-label': 'Signature' },
    [
      ['standard-webhooks', 'Standard Webhooks'],
      ['github', 'GitHub'],
      ['stripe', 'Stripe'],
      ['shopify', 'Shopify'],
      ['slack', 'Slack'],
      ['none', 'None'],
    ].map(([v, t]) => h('option', { value: v, selected: (w ? w.signature : 'standard-webhooks') === v }, t))
  );
  const format = h(
    'select',
    { class: 'input', 'aria-label': 'Format' },
    [
      ['raw', 'Raw payload'],
      ['envelope', 'Envelope'],
    ].map(([v, t]) => h('option', { value: v, selected: (w ? w.format : 'raw') === v }, t))
  );
  const headers = h('textarea', {
    class: 'input mono headers-input',
    rows: 3,
    spellcheck: false,
    placeholder: 'X-Tenant: acme\nAuthorization: Bearer …',
    'aria-label': 'Headers',
  });
  headers.value = (w ? w.headers || [] : []).map(([k, v]) => `${k}: ${v}`).join('\n');
  const timeout = h('input', { class: 'input mono', value: w ? w.timeout || '' : '', placeholder: '10s', spellcheck: false, 'aria-label': 'Timeout' });
  const schedule = h('input', {
    class: 'input mono',
    value: w && w.retry ? (w.retry.schedule || []).join(', ') : '',
    placeholder: '5s, 5m, 30m, 2h, 5h, 10h, 10h (empty: no retries)',
    spellcheck: false,
    'aria-label': 'Retry schedule',
  });
  const scale = h('input', { class: 'input mono', type: 'text', inputmode: 'decimal', value: w && w.retry ? String(w.retry.time_scale ?? 1) : '1', 'aria-label': 'Time scale' });
  const err = h('div', { class: 'note error', role: 'alert', hidden: true });
  const save = h('button', { class: 'btn primary', type: 'submit' }, isNew ? 'Add Webhook' : 'Save changes');

  // where the API's `field: message` errors go
  const slots = {};
  const slot = (key, ...controls) => {
    const e = h('div', { class: 'field-error', role: 'alert', dataset: { field: key }, hidden: true });
    slots[key] = { e, controls };
    return e;
  };
  const clearErrors = () => {
    err.hidden = true;
    for (const { e, controls } of Object.values(slots)) {
      e.hidden = true;
      e.textContent = '';
      controls.forEach((c) => c.removeAttribute('aria-invalid'));
    }
  };
  const showError = (message) => {
    const m = /^([a-z_]+(?:\.[a-z_]+)?): /.exec(message);
    const target = m && (slots[m[1]] || slots[m[1].split('.')[0]]);
    if (target) {
      target.e.textContent = message;
      target.e.hidden = false;
      target.controls.forEach((c) => c.setAttribute('aria-invalid', 'true'));
      target.controls[0].focus();
    } else {
      err.textContent = message;
      err.hidden = false;
    }
  };

  const form = h(
    'form',
    {
      class: 'form-grid',
      noValidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        let events = all.checked ? ['*'] : boxes.filter((b) => b.cb.checked).map((b) => b.cb.value);
        if (!st.events.length && w) events = w.events || [];
        const body = {
          name: name.value.trim(),
          url: url.value.trim(),
          events,
          active: active.checked,
          signature: signature.value,
          format: format.value,
          insecure_tls: insecure.checked,
          headers: headers.value
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => {
              const i = l.indexOf(':');
              return i < 0 ? [l.trim(), ''] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
            }),
          retry: { schedule: schedule.value.split(/[\s,]+/).filter(Boolean) },
        };
        if (timeout.value.trim()) body.timeout = timeout.value.trim();
        const ts = scale.value.trim();
        if (ts) body.retry.time_scale = Number(ts);
        const pasted = secret.value.trim();
        if (regenerate) body.secret = '';
        else if (pasted && pasted !== original) body.secret = pasted;
        save.disabled = true;
        clearErrors();
        try {
          const saved = isNew ? await api('/_/api/webhooks', { method: 'POST', json: body }) : await api(`/_/api/webhooks/${enc(w.id)}`, { method: 'PUT', json: body });
          const hook = saved && saved.webhook ? saved.webhook : saved;
          if (hook && hook.id != null) {
            const i = st.webhooks.findIndex((x) => x.id === hook.id);
            if (i >= 0) st.webhooks[i] = hook;
            else st.webhooks.push(hook);
            st.selected = hook.id;
          }
          toast(isNew ? 'Webhook added' : 'Webhook saved');
          await loadDeliveries(st);
          render(st);
        } catch (e) {
          showError(e.message);
        } finally {
          save.disabled = false;
        }
      },
    },
    field('Name', name, null, slot('name', name)),
    field('URL', url, 'Events are POSTed here.', slot('url', url)),
    st.events.length
      ? field('Events', h('div', null, h('label', { class: 'switch' }, all, 'All events (*)'), h('div', { class: 'events-pick' }, boxes.map((b) => b.label))), null, slot('events', all))
      : h('div', { class: 'note warn' }, st.eventsError ? `Event catalog unavailable: ${st.eventsError}` : 'No events in the catalog.'),
    field(
      'Secret',
      h(
        'div',
        { class: 'secret' },
        secret,
        h('button', { class: 'btn', type: 'button', title: 'Copy the secret', onclick: async () => toast(secret.value && (await copyText(secret.value)) ? 'Secret copied' : 'Nothing to copy') }, 'Copy'),
        h(
          'button',
          {
            class: 'btn regenerate',
            type: 'button',
            title: 'Forget this secret; a new one is generated on save',
            onclick: () => {
              regenerate = true;
              secret.value = '';
              secret.focus();
            },
          },
          'Regenerate'
        )
      ),
      'Paste your app’s own secret (whsec_… for Standard Webhooks; any text for GitHub, Stripe, Shopify and Slack), or regenerate one. Your app verifies the signature header with it.',
      slot('secret', secret)
    ),
    h(
      'div',
      { class: 'form-cols' },
      field('Signature', signature, 'webhook-signature, or the provider’s own header: X-Hub-Signature-256, Stripe-Signature, X-Shopify-Hmac-Sha256, X-Slack-Signature', slot('signature', signature)),
      field('Format', format, 'Envelope wraps it: {type, timestamp, data}', slot('format', format))
    ),
    field('Custom headers', headers, 'One “Name: value” per line, sent with every delivery.', slot('headers', headers)),
    h(
      'div',
      { class: 'form-cols three' },
      field('Timeout', timeout, 'e.g. 10s, 1m', slot('timeout', timeout)),
      field('Retry schedule', schedule, 'Delays between attempts', slot('retry.schedule', schedule)),
      field('Time scale', scale, 'Multiplies every delay', slot('retry.time_scale', scale))
    ),
    h('div', { class: 'switches' }, h('label', { class: 'switch' }, active, 'Active'), h('label', { class: 'switch' }, insecure, 'Accept any TLS certificate')),
    err,
    h(
      'div',
      { class: 'actions-line' },
      save,
      isNew
        ? h(
            'button',
            {
              class: 'btn',
              type: 'button',
              onclick: () => {
                st.selected = st.webhooks.length ? st.webhooks[0].id : null;
                render(st);
              },
            },
            'Cancel'
          )
        : h('button', { class: 'btn danger', type: 'button', onclick: () => remove(st, w) }, 'Delete')
    )
  );
  return h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', null, isNew ? 'Add New Webhook' : 'Edit Webhook')), h('div', { class: 'card-body' }, form));
}

function field(label, control, hint, error) {
  return h('div', { class: 'form-row' }, h('label', { class: 'field-label' }, label), control, error || null, hint ? h('div', { class: 'hint' }, hint) : null);
}

async function remove(st, w) {
  if (!(await confirmAction(`Delete webhook ${w.name}?`, 'It stops receiving events. Its delivery log is kept until it ages out.', 'Delete'))) return;
  try {
    await api(`/_/api/webhooks/${enc(w.id)}`, { method: 'DELETE' });
    st.webhooks = st.webhooks.filter((x) => x.id !== w.id);
    st.selected = st.webhooks.length ? st.webhooks[0].id : null;
    await loadDeliveries(st);
    render(st);
  } catch (e) {
    toast(`Cannot delete: ${e.message}`, 'error');
  }
}

function eventsFor(st, w) {
  const subs = w ? w.events || [] : [];
  if (subs.includes('*') || !subs.length) return st.events;
  const globs = subs.map((s) => new RegExp('^' + s.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$'));
  return st.events.filter((e) => globs.some((g) => g.test(e.name)));
}

function testCard(st, w) {
  if (!w) {
    return h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', null, 'Send Test Event')), h('div', { class: 'card-body muted' }, 'Save the webhook first, then send it a test event.'));
  }
  const evs = eventsFor(st, w);
  if (!st.testEvent || !evs.some((e) => e.name === st.testEvent)) st.testEvent = evs.length ? evs[0].name : null;
  const info = eventInfo(st, st.testEvent);
  const select = h(
    'select',
    { class: 'input', 'aria-label': 'Event' },
    evs.map((e) => h('option', { value: e.name, selected: e.name === st.testEvent }, e.title ? `${e.title} (${e.name})` : e.name))
  );
  const payload = h('textarea', { class: 'payload', spellcheck: false, 'aria-label': 'Payload' });
  payload.value = info ? info.sampleText : '{}';
  const desc = h('div', { class: 'hint' }, info ? info.description || '' : '');
  select.addEventListener('change', () => {
    st.testEvent = select.value;
    const i = eventInfo(st, select.value);
    payload.value = i ? i.sampleText : '{}';
    desc.textContent = i ? i.description || '' : '';
  });
  const result = h('div');
  const send = h('button', { class: 'btn primary send-test', type: 'button' }, 'Send Test Event');
  send.addEventListener('click', async () => {
    // the payload is sent as written, so numbers keep every digit
    const text = payload.value.trim();
    let body;
    if (text) {
      try {
        parseJson(text);
      } catch (e) {
        fill(result, h('div', { class: 'note error' }, `Payload is not valid JSON: ${e.message}`));
        return;
      }
      body = `{"event":${JSON.stringify(st.testEvent)},"payload":${text}}`;
    } else {
      body = JSON.stringify({ event: st.testEvent });
    }
    send.disabled = true;
    fill(result, h('div', { class: 'note' }, h('span', { class: 'spinner inline' }), ` Sending ${st.testEvent} to ${w.url}…`));
    try {
      const r = await rawPost(`/_/api/webhooks/${enc(w.id)}/test`, body);
      fill(result, testResult(r));
    } catch (e) {
      fill(result, h('div', { class: 'note error' }, `Send Test Event failed: ${e.message}`));
    } finally {
      send.disabled = false;
    }
  });
  return h(
    'div',
    { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', null, 'Send Test Event')),
    h(
      'div',
      { class: 'card-body form-grid' },
      evs.length ? field('Event', select) : h('div', { class: 'note warn' }, 'This webhook listens to no known event.'),
      desc,
      field('Payload', payload, 'The event’s sample payload; edit it before sending if you like.'),
      h('div', { class: 'actions-line' }, send),
      result
    )
  );
}

async function rawPost(path, body) {
  // JSON built by hand to keep the edited payload's number literals exact
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(path, { method: 'POST', headers, body, cache: 'no-store' });
  const text = await res.text();
  let j = null;
  try {
    j = text ? JSON.parse(text) : null;
  } catch {
    j = null;
  }
  if (!res.ok) throw new Error((j && j.error && j.error.message) || `${res.status} ${res.statusText}`);
  return j || {};
}

function testResult(r) {
  const ok = !!r.ok;
  const resp = r.response || null;
  return h(
    'div',
    { class: 'test-result ' + (ok ? 'ok' : 'bad') },
    h(
      'div',
      { class: 'verdict' },
      h('span', { class: ok ? 'state-succeeded' : 'state-failed' }, ok ? '✓ Delivered' : '✗ Not delivered'),
      r.status != null ? h('span', { class: 'status-pill ' + statusClass(r.status) }, String(r.status)) : null,
      r.latency_ms != null ? h('span', { class: 'muted' }, `${Math.round(r.latency_ms)} ms`) : null
    ),
    r.error ? h('div', { class: 'note error' }, r.error) : null,
    !ok && r.status != null && !r.error ? h('div', { class: 'hint' }, 'Only a 2xx answer counts as delivered.') : null,
    resp ? h('div', { class: 'section' }, h('div', { class: 'section-title' }, 'Response body'), valueView(resp.body, 65536)) : null
  );
}

function deliveriesCard(st, w) {
  const rows = [];
  for (const d of st.deliveries) {
    const attempts = d.attempts || [];
    const last = attempts[attempts.length - 1] || {};
    const status = last.response ? last.response.status : null;
    const open = st.open.has(d.id);
    rows.push(
      h(
        'tr',
        {
          class: 'clickable',
          dataset: { delivery: String(d.id) },
          onclick: () => {
            if (open) st.open.delete(d.id);
            else st.open.add(d.id);
            renderLive(st);
          },
        },
        h('td', { title: absTime(lastAt(d)) }, relTime(lastAt(d))),
        h('td', null, h('span', { class: 'chip' }, d.event || '')),
        h('td', { class: 'muted' }, d.trigger || ''),
        h('td', null, h('span', { class: 'state-' + (d.state || 'pending') }, d.state || '')),
        h('td', null, String(attempts.length)),
        h('td', null, status != null ? h('span', { class: 'status-pill ' + statusClass(status) }, String(status)) : last.error ? h('span', { class: 'tag bad' }, 'error') : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'muted' }, last.latency_ms != null ? `${Math.round(last.latency_ms)} ms` : ''),
        h(
          'td',
          null,
          h(
            'button',
            {
              class: 'btn small',
              type: 'button',
              onclick: async (ev) => {
                ev.stopPropagation();
                try {
                  await api(`/_/api/deliveries/${enc(d.id)}/retry`, { method: 'POST' });
                  toast('Redelivery queued');
                } catch (e) {
                  toast(`Cannot redeliver: ${e.message}`, 'error');
                }
              },
            },
            'Redeliver'
          )
        )
      )
    );
    if (open) rows.push(h('tr', null, h('td', { colSpan: 8 }, attemptsList(attempts))));
  }
  return h(
    'div',
    { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', null, 'Delivery log'), h('span', { class: 'muted' }, `${st.deliveries.length} deliver${st.deliveries.length === 1 ? 'y' : 'ies'} · live`)),
    st.deliveriesError
      ? h('div', { class: 'error-line' }, st.deliveriesError)
      : st.deliveries.length
        ? h('table', { class: 'grid' }, h('thead', null, h('tr', null, ['When', 'Event', 'Trigger', 'State', 'Attempts', 'Status', 'Latency', ''].map((t) => h('th', null, t)))), h('tbody', null, rows))
        : h('div', { class: 'card-body muted' }, 'Nothing sent yet. Use Send Test Event, or fire an event with hookpit send.')
  );
}

/** Each attempt with the exchange: the request sent (URL, headers, body) and the answer. */
function attemptsList(attempts) {
  return h(
    'ol',
    { class: 'attempts' },
    attempts.map((a) =>
      h(
        'li',
        null,
        h(
          'div',
          { class: 'attempt-line' },
          h('strong', null, `#${a.n}`),
          h('span', { class: 'muted', title: absTime(parseTime(a.at)) }, absTime(parseTime(a.at))),
          a.response ? h('span', { class: 'status-pill ' + statusClass(a.response.status) }, String(a.response.status)) : null,
          a.error ? h('span', { class: 'tag bad' }, a.error) : null,
          a.latency_ms != null ? h('span', { class: 'muted' }, `${Math.round(a.latency_ms)} ms`) : null,
          a.next_attempt_at ? h('span', { class: 'muted' }, `next attempt ${absTime(parseTime(a.next_attempt_at))}`) : null
        ),
        exchange(a)
      )
    )
  );
}

function exchange(a) {
  const req = a.request || {};
  const resp = a.response;
  return h(
    'div',
    { class: 'exchange' },
    h(
      'div',
      { class: 'ex-side ex-request' },
      h('div', { class: 'section-title' }, 'Request sent'),
      h('div', { class: 'ex-line' }, h('span', { class: 'badge method m-post' }, 'POST'), ' ', h('code', { class: 'ex-url' }, req.url || '')),
      kvTable(req.headers || [], ['Header', 'Value'], { empty: 'No headers' }),
      h('div', { class: 'ex-sub' }, 'Body'),
      req.body == null ? h('div', { class: 'empty-small' }, 'Body not loaded') : valueView(req.body, 65536)
    ),
    h(
      'div',
      { class: 'ex-side ex-response' },
      h('div', { class: 'section-title' }, 'Response'),
      resp
        ? [
            h('div', { class: 'ex-line' }, h('span', { class: 'status-pill ' + statusClass(resp.status) }, String(resp.status)), a.latency_ms != null ? h('span', { class: 'muted' }, ` after ${Math.round(a.latency_ms)} ms`) : null),
            kvTable(resp.headers || [], ['Header', 'Value'], { empty: 'No headers' }),
            h('div', { class: 'ex-sub' }, resp.truncated ? 'Body (the first 64 KiB)' : 'Body'),
            resp.body == null ? h('div', { class: 'empty-small' }, 'Body not loaded') : valueView(resp.body, 65536),
          ]
        : h('div', { class: 'note error' }, a.error ? `No answer: ${a.error}` : 'No answer yet')
    )
  );
}

/** Forgets what was loaded (the server restarted); reloads now when the page is open. */
export function invalidate(st) {
  st.loaded = false;
  st.webhooks = [];
  st.deliveries = [];
  st.selected = null;
  if (!st.root.hidden) show(st);
}

/** Draws the page, loading it first when it has not been (or was invalidated). */
export function show(st) {
  if (!st.loaded) {
    render(st);
    load(st);
  } else {
    render(st);
  }
}

/** A `delivery` websocket message: update the log and the webhook's counters live. */
export function onDelivery(st, d) {
  if (!d || d.id == null) return;
  const w = st.webhooks.find((x) => x.id === d.webhook_id);
  const attempts = d.attempts || [];
  const last = attempts[attempts.length - 1];
  // the server's rule: a delivery counts once, at its first attempt; test events never
  const before = st.seen.get(d.id) || 0;
  st.seen.set(d.id, Math.max(before, attempts.length));
  if (w && last && d.trigger !== 'test') {
    w.last_status = last.response ? last.response.status : null;
    if (attempts.length === 1 && before === 0) w.sent_count = (w.sent_count || 0) + 1;
  }
  if (d.webhook_id === st.selected) {
    const i = st.deliveries.findIndex((x) => x.id === d.id);
    if (i >= 0) st.deliveries[i] = d;
    else st.deliveries.push(d);
    sortDeliveries(st);
  }
  renderLive(st);
}
