// hookpit viewer helpers shared by every page module: the API client (token aware), safe DOM
// building (text nodes only, never HTML strings), formatting of sizes and times, clipboard and
// toasts. Captured data passed to these helpers always ends up as text.

/** The access token from the page URL (`?token=T`), sent on every API call and the websocket. */
export const token = new URLSearchParams(location.search).get('token') || '';

/** A path segment or query value, escaped. */
export const enc = encodeURIComponent;

/** Adds `?token=` to a same-origin URL (for <img>, downloads and the websocket). */
export function withToken(path) {
  if (!token) return path;
  const u = new URL(path, location.href);
  u.searchParams.set('token', token);
  return u.pathname + u.search;
}

/** An API failure: HTTP status (0 when the server could not be reached), error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the hookpit API. `as` is 'json' (default), 'text' or 'bytes'.
 * Errors become ApiError with the server's `{"error":{"code","message"}}` when it sent one.
 */
export async function api(path, { method = 'GET', json, as = 'json', signal } = {}) {
  const headers = { Accept: as === 'json' ? 'application/json' : '*/*' };
  if (token) headers.Authorization = 'Bearer ' + token;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'cannot reach hookpit');
  }
  if (!res.ok) {
    let code = 'http_' + res.status;
    let message = `${res.status} ${res.statusText}`.trim();
    try {
      const j = await res.json();
      if (j && j.error) {
        code = j.error.code || code;
        message = j.error.message || message;
      }
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, code, message);
  }
  if (as === 'bytes') return new Uint8Array(await res.arrayBuffer());
  if (as === 'text') return res.text();
  const t = await res.text();
  return t ? JSON.parse(t) : null;
}

/**
 * Builds an element. Props set properties (class, title, type, value…), `dataset`, `on<event>`
 * listeners or attributes (names containing '-'). Children are nodes or strings; strings become
 * text nodes, so captured data can never turn into markup.
 */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k.includes('-') || !(k in el)) el.setAttribute(k, v === true ? '' : v);
      else el[k] = v;
    }
  }
  append(el, kids);
  return el;
}

/** Appends nodes or strings (as text) to an element. */
export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...kids) {
  el.replaceChildren();
  return append(el, kids);
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** 1234 -> "1.2 KB". */
export function fmtSize(n) {
  if (n == null) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
  if (n < 1024 * 1024 * 1024) return (n / 1048576).toFixed(1) + ' MB';
  return (n / 1073741824).toFixed(2) + ' GB';
}

/** 10000 -> "10,000". */
export const fmtCount = (n) => Number(n || 0).toLocaleString('en-US');

/** RFC 3339 (microseconds) -> epoch milliseconds. */
export function parseTime(s) {
  if (!s) return 0;
  const t = Date.parse(String(s).replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(t) ? 0 : t;
}

/** "just now", "12s ago", "5m ago", "3h ago", "2d ago". */
export function relTime(ms, now = Date.now()) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 3) return 'just now';
  if (s < 60) return s + 's ago';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm ago';
  const hr = Math.floor(m / 60);
  if (hr < 24) return hr + 'h ago';
  return Math.floor(hr / 24) + 'd ago';
}

/** Local date and time with milliseconds. */
export function absTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  );
}

/** Header value as display text: UTF-8 text, or `{"base64":…}` shown with \xNN escapes. */
export function headerText(v) {
  if (typeof v === 'string') return { text: v, binary: false };
  if (v && typeof v.base64 === 'string') {
    const bytes = b64ToBytes(v.base64);
    let out = '';
    for (const b of bytes) {
      out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0');
    }
    return { text: out, binary: true };
  }
  return { text: String(v), binary: false };
}

/** The first header with this name (case-insensitive), as text, or ''. */
export function header(req, name) {
  const n = name.toLowerCase();
  for (const [k, v] of req.headers || []) {
    if (String(k).toLowerCase() === n) return headerText(v).text;
  }
  return '';
}

export function b64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Copies text to the clipboard, with a fallback for browsers without the async API. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { value: text, class: 'offscreen', readOnly: true });
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

let toastTimer = 0;
/** A short message at the bottom of the screen; kind is '' or 'error'. */
export function toast(message, kind = '') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = 'toast show ' + kind;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.className = 'toast ' + kind), kind === 'error' ? 5000 : 2200);
}

/** DELETEs `path`; a 404 (already gone) counts as done, any other failure is toasted. False then. */
export async function deleteOrGone(path) {
  try {
    await api(path, { method: 'DELETE' });
  } catch (e) {
    if (e.status !== 404) {
      toast(`Cannot delete: ${e.message}`, 'error');
      return false;
    }
  }
  return true;
}

/** Asks for confirmation in the page's own <dialog> (never window.confirm). */
export function confirmAction(title, message, action = 'Confirm') {
  const dlg = document.getElementById('confirm');
  fill(dlg.querySelector('.confirm-title'), title);
  fill(dlg.querySelector('.confirm-message'), message);
  fill(dlg.querySelector('.confirm-ok'), action);
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
  });
}

/** A method name's colour class. */
export function methodClass(m) {
  const known = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
  const up = String(m || '').toUpperCase();
  return 'm-' + (known.includes(up) ? up.toLowerCase() : 'other');
}

/** A status code's colour class. */
export function statusClass(s) {
  if (s == null) return 's-none';
  if (s >= 500) return 's-5xx';
  if (s >= 400) return 's-4xx';
  if (s >= 300) return 's-3xx';
  return 's-2xx';
}

/** Short label for a content type: "json", "form", "xml"… */
export function shortType(ct) {
  const t = String(ct || '').split(';')[0].trim().toLowerCase();
  if (!t) return '';
  if (t.includes('json')) return 'json';
  if (t === 'application/x-www-form-urlencoded') return 'form';
  if (t.startsWith('multipart/')) return 'multipart';
  if (t.includes('xml')) return 'xml';
  if (t.startsWith('text/')) return t.slice(5);
  if (t.startsWith('image/')) return t.slice(6);
  const slash = t.indexOf('/');
  return slash >= 0 ? t.slice(slash + 1) : t;
}
