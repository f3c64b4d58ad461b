// hookpit viewer body views: picks the views a captured body supports (JSON tree, form fields,
// multipart parts, text — decoded from a declared charset such as iso-8859-1 or windows-1252 —,
// hex dump, image preview, decoded gzip/deflate/br) and renders them.
// Bodies are untrusted: text goes in text nodes, images load from the body endpoint, multipart
// parts are previewed inline (JSON tree, text, raster images from blob URLs, a hex excerpt) and
// downloaded as blob URLs. Nothing captured is ever parsed as HTML. Also the shared pieces that
// show other bodies: a name/value table and a sent or received body's value view.

import { h, api, fmtSize, header, b64ToBytes, withToken, copyText, toast } from './util.js';
import { parseJson, looksLikeJson, renderTree, setTreeOpen } from './json.js';

const HEX_LIMIT = 64 * 1024;
const TEXT_LIMIT = 2 * 1024 * 1024;

/** The bytes and text of a request body JSON `{size, truncated, encoding, text|base64}`. */
export function bodyContent(body) {
  if (!body || body.omitted) return { bytes: null, text: null };
  if (body.encoding === 'utf8' || typeof body.text === 'string') {
    const text = body.text || '';
    return { bytes: new TextEncoder().encode(text), text };
  }
  if (typeof body.base64 === 'string') {
    const bytes = b64ToBytes(body.base64);
    return { bytes, text: utf8OrNull(bytes) };
  }
  return { bytes: new Uint8Array(0), text: '' };
}

function utf8OrNull(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

const mediaType = (ct) => String(ct || '').split(';')[0].trim().toLowerCase();

function boundaryOf(ct) {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(String(ct || ''));
  return m ? m[1] || m[2] : null;
}

/** The `charset=` of a Content-Type, lowercased, or ''. */
function charsetOf(ct) {
  const m = /;\s*charset=(?:"([^"]*)"|([^;\s]+))/i.exec(String(ct || ''));
  return m ? (m[1] || m[2] || '').trim().toLowerCase() : '';
}

/** Bytes decoded from a declared non-UTF-8 charset the browser knows (latin1, windows-1252…). */
function decodeCharset(bytes, charset) {
  if (!bytes || !charset || /^(utf-?8|unicode-1-1-utf-8)$/.test(charset)) return null;
  let dec;
  try {
    dec = new TextDecoder(charset);
  } catch {
    return null; // a label the browser does not know: bytes stay bytes
  }
  if (dec.encoding === 'utf-8' || dec.encoding === 'replacement') return null;
  return { text: dec.decode(bytes), label: dec.encoding };
}

/** Context for rendering one request's body. */
export function bodyContext(req) {
  let { bytes, text } = bodyContent(req.body);
  const ct = header(req, 'content-type');
  const ce = header(req, 'content-encoding').trim().toLowerCase();
  // the declared charset wins for display: the bytes are shown as the sender meant them
  const declared = !ce || ce === 'identity' ? decodeCharset(bytes, charsetOf(ct)) : null;
  if (declared) text = declared.text;
  return { req, bytes, text, ct, mt: mediaType(ct), ce: ce && ce !== 'identity' ? ce : '', json: undefined, charset: declared ? declared.label : '' };
}

function jsonOf(ctx) {
  if (ctx.json === undefined) {
    ctx.json = null;
    if (ctx.text != null && (ctx.mt.includes('json') || looksLikeJson(ctx.text))) {
      try {
        ctx.json = { node: parseJson(ctx.text) };
      } catch (e) {
        ctx.json = { error: e.message };
      }
    }
  }
  return ctx.json;
}

/** The views this body supports, best first: [{key, label}]. */
export function bodyViews(ctx) {
  const views = [];
  const size = ctx.bytes ? ctx.bytes.length : 0;
  if (!size) return views;
  if (ctx.ce) views.push({ key: 'decoded', label: `Decoded (${ctx.ce})` });
  const j = !ctx.ce && jsonOf(ctx);
  if (j && j.node) views.push({ key: 'json', label: 'JSON' });
  if (ctx.mt === 'application/x-www-form-urlencoded' && ctx.text != null) views.push({ key: 'form', label: 'Form' });
  if (ctx.mt.startsWith('multipart/') && boundaryOf(ctx.ct)) views.push({ key: 'multipart', label: 'Multipart' });
  if (ctx.mt.startsWith('image/')) views.push({ key: 'image', label: 'Image' });
  if (ctx.text != null) views.push({ key: 'text', label: 'Text' });
  views.push({ key: 'hex', label: 'Hex' });
  return views;
}

/** Renders one view of the body into a node. */
export function renderBodyView(key, ctx) {
  switch (key) {
    case 'json':
      return jsonView(ctx.text, jsonOf(ctx).node);
    case 'form':
      return formView(ctx.text);
    case 'multipart':
      return multipartView(ctx.bytes, boundaryOf(ctx.ct));
    case 'image':
      return imageView(ctx.req);
    case 'text':
      return textView(ctx.text, ctx.json && ctx.json.error, ctx.charset);
    case 'decoded':
      return decodedView(ctx);
    default:
      return hexView(ctx.bytes);
  }
}

function toolbar(...kids) {
  return h('div', { class: 'view-tools' }, kids);
}

function jsonView(source, node) {
  const tree = renderTree(node);
  return h(
    'div',
    { class: 'view view-json' },
    toolbar(
      h('button', { class: 'btn small ghost', type: 'button', onclick: () => setTreeOpen(tree, true) }, 'Expand all'),
      h('button', { class: 'btn small ghost', type: 'button', onclick: () => setTreeOpen(tree, false) }, 'Collapse all'),
      h(
        'button',
        {
          class: 'btn small ghost',
          type: 'button',
          onclick: async () => toast((await copyText(source)) ? 'Body copied' : 'Copy failed'),
        },
        'Copy'
      )
    ),
    tree
  );
}

function textView(text, jsonError, charset) {
  const shown = text.length > TEXT_LIMIT ? text.slice(0, TEXT_LIMIT) : text;
  return h(
    'div',
    { class: 'view view-text' },
    charset ? h('div', { class: 'note' }, `Decoded from ${charset}, the charset the Content-Type declares; Hex shows the bytes.`) : null,
    jsonError ? h('div', { class: 'note warn' }, 'Not valid JSON: ' + jsonError) : null,
    text.length > TEXT_LIMIT ? h('div', { class: 'note' }, `Showing the first ${fmtSize(TEXT_LIMIT)}; download the body for the rest.`) : null,
    h('pre', { class: 'code wrap' }, shown)
  );
}

/** Classic 16-bytes-a-line hex dump of the first 64 KiB. */
export function hexDump(bytes, limit = HEX_LIMIT) {
  const n = Math.min(bytes.length, limit);
  const lines = [];
  for (let off = 0; off < n; off += 16) {
    let hex = '';
    let asc = '';
    for (let j = 0; j < 16; j++) {
      if (off + j < n) {
        const b = bytes[off + j];
        hex += b.toString(16).padStart(2, '0') + ' ';
        asc += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
      if (j === 7) hex += ' ';
    }
    lines.push(off.toString(16).padStart(8, '0') + '  ' + hex + ' |' + asc + '|');
  }
  return lines.join('\n');
}

function hexView(bytes) {
  return h(
    'div',
    { class: 'view view-hex' },
    bytes.length > HEX_LIMIT ? h('div', { class: 'note' }, `Showing the first ${fmtSize(HEX_LIMIT)} of ${fmtSize(bytes.length)}.`) : null,
    h('pre', { class: 'code hex' }, hexDump(bytes))
  );
}

function formDecode(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function formView(text) {
  const rows = text
    .split('&')
    .filter((p) => p)
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? [formDecode(pair), ''] : [formDecode(pair.slice(0, eq)), formDecode(pair.slice(eq + 1))];
    });
  return h('div', { class: 'view view-form' }, kvTable(rows, ['Field', 'Value']));
}

/** A two-column table of [name, value] string pairs. */
export function kvTable(rows, heads = ['Name', 'Value'], opts = {}) {
  if (!rows.length) return h('div', { class: 'empty-small' }, opts.empty || 'None');
  return h(
    'table',
    { class: 'kv' + (opts.numbered ? ' numbered' : '') },
    h('thead', null, h('tr', null, opts.numbered ? h('th', { class: 'num' }, '#') : null, heads.map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      rows.map((r, i) =>
        h(
          'tr',
          null,
          opts.numbered ? h('td', { class: 'num' }, String(i + 1)) : null,
          h('td', { class: 'k' }, r[0]),
          h('td', { class: 'v' + (r[2] ? ' binary' : '') }, r[1], r[2] ? h('span', { class: 'tag' }, 'binary') : null)
        )
      )
    )
  );
}

/**
 * A body hookpit sent or received (a response, a replay's or a delivery's answer): a body JSON
 * `{size, encoding, text|base64}` or a plain string, as a JSON tree or text; text beyond
 * `maxChars` is cut with an ellipsis.
 */
export function valueView(body, maxChars = Infinity) {
  let text = null;
  if (typeof body === 'string') text = body;
  else if (body && typeof body.text === 'string') text = body.text;
  else if (body && typeof body.base64 === 'string') return h('div', { class: 'note' }, `${fmtSize(body.size)} of binary data`);
  if (!text) return h('div', { class: 'empty-small' }, 'Empty body');
  if (looksLikeJson(text)) {
    try {
      return renderTree(parseJson(text));
    } catch {
      // not JSON: show as text
    }
  }
  return h('pre', { class: 'code wrap' }, text.length > maxChars ? text.slice(0, maxChars) + '…' : text);
}

function indexOfSeq(hay, needle, from) {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (let i = from; i <= last; i++) {
    if (hay[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const latin1 = (bytes) => {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
};

/** Splits a multipart body into parts: {headers:[[k,v]], name, filename, type, bytes}. */
export function parseMultipart(bytes, boundary) {
  const enc = new TextEncoder();
  const delim = enc.encode('--' + boundary);
  const parts = [];
  let pos = indexOfSeq(bytes, delim, 0);
  while (pos >= 0) {
    let start = pos + delim.length;
    if (bytes[start] === 0x2d && bytes[start + 1] === 0x2d) break; // closing delimiter
    if (bytes[start] === 0x0d) start++;
    if (bytes[start] === 0x0a) start++;
    const next = indexOfSeq(bytes, delim, start);
    let end = next < 0 ? bytes.length : next;
    if (next >= 0) {
      if (bytes[end - 1] === 0x0a) end--;
      if (bytes[end - 1] === 0x0d) end--;
    }
    const part = bytes.subarray(start, end);
    const crlf2 = indexOfSeq(part, enc.encode('\r\n\r\n'), 0);
    const lf2 = crlf2 < 0 ? indexOfSeq(part, enc.encode('\n\n'), 0) : -1;
    const headEnd = crlf2 >= 0 ? crlf2 : lf2;
    const sepLen = crlf2 >= 0 ? 4 : 2;
    const headText = headEnd >= 0 ? new TextDecoder().decode(part.subarray(0, headEnd)) : '';
    const body = headEnd >= 0 ? part.subarray(headEnd + sepLen) : part;
    const headers = headText
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]);
    const get = (n) => (headers.find(([k]) => k.toLowerCase() === n) || [])[1] || '';
    const disp = get('content-disposition');
    const param = (p) => {
      const m = new RegExp(`;\\s*${p}\\*?=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]+))`, 'i').exec(disp);
      return m ? (m[1] != null ? m[1].replace(/\\(.)/g, '$1') : m[2].trim()) : null;
    };
    parts.push({ headers, name: param('name'), filename: param('filename'), type: get('content-type'), bytes: body });
    if (next < 0) break;
    pos = next;
  }
  return parts;
}

let partUrls = []; // blob URLs of the parts shown now (revoked when another body is shown)

/** A blob URL for captured bytes; `type` is only ever an image type or octet-stream. */
function blobUrl(bytes, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  partUrls.push(url);
  return url;
}

const PREVIEW_IMAGES = /^image\/(png|jpeg|gif|webp|bmp|avif|x-icon|vnd\.microsoft\.icon)$/;
const PART_TEXT_LIMIT = 64 * 1024;

/** Every part with its headers and an inline preview: JSON tree, text, image, or a hex excerpt. */
function multipartView(bytes, boundary) {
  for (const u of partUrls) URL.revokeObjectURL(u);
  partUrls = [];
  const parts = parseMultipart(bytes, boundary);
  if (!parts.length) return h('div', { class: 'view' }, h('div', { class: 'note warn' }, `No parts found for boundary “${boundary}”.`));
  const cards = parts.map((p, i) => {
    const type = String(p.type || (p.filename ? 'application/octet-stream' : 'text/plain')).toLowerCase();
    const mt = type.split(';')[0].trim();
    const download = h(
      'button',
      {
        class: 'btn small ghost',
        type: 'button',
        onclick: () => {
          const url = blobUrl(p.bytes, 'application/octet-stream');
          const a = h('a', { href: url, download: p.filename || p.name || `part-${i + 1}` });
          document.body.append(a);
          a.click();
          a.remove();
        },
      },
      'Download'
    );
    return h(
      'div',
      { class: 'mp-part', dataset: { part: String(i + 1) } },
      h(
        'div',
        { class: 'mp-head' },
        h('span', { class: 'mp-name' }, p.name ?? '(unnamed)'),
        p.filename ? h('span', { class: 'file' }, p.filename) : null,
        h('span', { class: 'muted' }, mt),
        h('span', { class: 'muted' }, fmtSize(p.bytes.length)),
        h('span', { class: 'grow' }),
        download
      ),
      h('div', { class: 'mp-body' }, partPreview(p, mt))
    );
  });
  return h('div', { class: 'view view-multipart' }, h('div', { class: 'mp-parts' }, cards));
}

function partPreview(p, mt) {
  if (!p.bytes.length) return h('div', { class: 'empty-small' }, 'Empty');
  if (PREVIEW_IMAGES.test(mt)) {
    // raster formats only: the browser decodes them as pictures, nothing in them runs
    return h('img', { class: 'mp-img', alt: p.filename || p.name || 'image part', src: blobUrl(p.bytes, mt) });
  }
  let text = utf8OrNull(p.bytes.length > PART_TEXT_LIMIT ? p.bytes.subarray(0, PART_TEXT_LIMIT) : p.bytes);
  // a cut may split a character: step back at most three bytes
  for (let k = 1; text == null && p.bytes.length > PART_TEXT_LIMIT && k <= 3; k++) text = utf8OrNull(p.bytes.subarray(0, PART_TEXT_LIMIT - k));
  if (text != null) {
    if (mt.includes('json') || looksLikeJson(text)) {
      try {
        return renderTree(parseJson(text));
      } catch {
        // shown as text below
      }
    }
    return h('pre', { class: 'code wrap' }, text + (p.bytes.length > PART_TEXT_LIMIT ? '\n…' : ''));
  }
  return h('pre', { class: 'code hex' }, hexDump(p.bytes, 256) + (p.bytes.length > 256 ? '\n…' : ''));
}

function imageView(req) {
  const info = h('div', { class: 'note' }, 'Loading image…');
  const img = h('img', {
    class: 'preview-img',
    alt: 'Body preview',
    src: withToken(`/_/api/requests/${encodeURIComponent(req.id)}/body`),
    onload: () => (info.textContent = `${img.naturalWidth} × ${img.naturalHeight} px`),
    onerror: () => (info.textContent = 'The browser cannot display this image.'),
  });
  return h('div', { class: 'view view-image' }, info, h('div', { class: 'checker' }, img));
}

function decodedView(ctx) {
  const out = h('div', { class: 'view view-decoded' }, h('div', { class: 'note' }, `Decoding ${ctx.ce}…`));
  api(`/_/api/requests/${encodeURIComponent(ctx.req.id)}/body?decode=1`, { as: 'bytes' })
    .then((bytes) => {
      const text = utf8OrNull(bytes);
      const note = h('div', { class: 'note' }, `Content-Encoding ${ctx.ce}: ${fmtSize(ctx.bytes.length)} on the wire → ${fmtSize(bytes.length)} decoded.`);
      let view;
      if (text != null && (ctx.mt.includes('json') || looksLikeJson(text))) {
        try {
          view = jsonView(text, parseJson(text));
        } catch {
          view = textView(text);
        }
      } else if (text != null) {
        view = textView(text);
      } else {
        view = hexView(bytes);
      }
      out.replaceChildren(note, view);
    })
    .catch((e) => out.replaceChildren(h('div', { class: 'note error' }, `Cannot decode this body: ${e.message}`)));
  return out;
}
