// hookpit viewer JSON view: a small lossless JSON parser (numbers keep their source text, so
// 12345678901234567890 never loses digits; object keys keep their order and duplicates) and the
// collapsible tree rendered from it. Everything reaches the DOM as text.

import { h } from './util.js';

/** A JSON syntax error with the byte offset where it was found. */
export class JsonError extends Error {
  constructor(message, pos) {
    super(`${message} at position ${pos}`);
    this.pos = pos;
  }
}

const MAX_DEPTH = 1000;
const CHUNK = 500;

/**
 * Parses JSON text into nodes: {t:'o', e:[[key, node]…]}, {t:'a', e:[node…]}, {t:'s', v},
 * {t:'n', v:'source literal'}, {t:'b', v:true|false}, {t:'z'} (null).
 */
export function parseJson(text) {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const fail = (msg) => {
    throw new JsonError(msg, i);
  };
  const str = () => {
    // at the opening quote
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            i -= 2;
            fail('bad escape');
        }
        start = i;
      } else {
        i++;
      }
    }
  };
  const num = () => {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r || r[0] === '-' || r[0] === '') fail('bad number');
    i += r[0].length;
    return { t: 'n', v: r[0] };
  };
  const lit = (word, node) => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return node;
    }
    return fail('unexpected token');
  };
  const value = (depth) => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    if (i >= n) fail('unexpected end');
    const c = text[i];
    if (c === '{') {
      i++;
      const e = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'o', e };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        e.push([k, value(depth + 1)]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { t: 'o', e };
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const e = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'a', e };
      }
      for (;;) {
        e.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { t: 'a', e };
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { t: 's', v: str() };
    if (c === 't') return lit('true', { t: 'b', v: true });
    if (c === 'f') return lit('false', { t: 'b', v: false });
    if (c === 'n') return lit('null', { t: 'z' });
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    return fail('unexpected token');
  };
  // a UTF-8 byte order mark is tolerated
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const root = value(0);
  ws();
  if (i < n) fail('unexpected data after the value');
  return root;
}

/** Does this text look like JSON worth trying to parse? */
export function looksLikeJson(text) {
  const t = text.trimStart();
  return t.startsWith('{') || t.startsWith('[');
}

/** Serialises a node back to indented JSON, keeping number literals exactly. */
export function stringify(node, indent = '  ', pad = '') {
  switch (node.t) {
    case 'o': {
      if (!node.e.length) return '{}';
      const inner = pad + indent;
      const parts = node.e.map(([k, v]) => inner + JSON.stringify(k) + ': ' + stringify(v, indent, inner));
      return '{\n' + parts.join(',\n') + '\n' + pad + '}';
    }
    case 'a': {
      if (!node.e.length) return '[]';
      const inner = pad + indent;
      return '[\n' + node.e.map((v) => inner + stringify(v, indent, inner)).join(',\n') + '\n' + pad + ']';
    }
    case 's':
      return JSON.stringify(node.v);
    case 'n':
      return node.v;
    case 'b':
      return node.v ? 'true' : 'false';
    default:
      return 'null';
  }
}

function count(node) {
  const k = node.e.length;
  if (node.t === 'o') return k === 1 ? '1 key' : `${k} keys`;
  return k === 1 ? '1 item' : `${k} items`;
}

function scalar(node) {
  switch (node.t) {
    case 's':
      return h('span', { class: 'j-str' }, JSON.stringify(node.v));
    case 'n':
      return h('span', { class: 'j-num' }, node.v);
    case 'b':
      return h('span', { class: 'j-bool' }, node.v ? 'true' : 'false');
    default:
      return h('span', { class: 'j-null' }, 'null');
  }
}

/**
 * Renders a parsed node as a collapsible tree. Containers open by default up to a budget of nodes;
 * closed containers render their children only when first opened, so huge documents stay cheap.
 */
export function renderTree(root) {
  const budget = { left: 1500 };
  const tree = h('div', { class: 'jtree', role: 'tree' });
  tree.append(renderNode(null, root, 0, true, budget));
  return tree;
}

function keyLabel(key) {
  if (key == null) return null;
  return [h('span', { class: 'j-key' }, typeof key === 'number' ? String(key) : JSON.stringify(key)), h('span', { class: 'j-punct' }, ': ')];
}

function renderNode(key, node, depth, last, budget) {
  const comma = last ? null : h('span', { class: 'j-punct' }, ',');
  if (node.t !== 'o' && node.t !== 'a') {
    budget.left--;
    return h('div', { class: 'j-line' }, keyLabel(key), scalar(node), comma);
  }
  const [open, close] = node.t === 'o' ? ['{', '}'] : ['[', ']'];
  if (!node.e.length) {
    budget.left--;
    return h('div', { class: 'j-line' }, keyLabel(key), h('span', { class: 'j-punct' }, open + close), comma);
  }
  const det = h('details', { class: 'j-node' });
  const summary = h(
    'summary',
    { class: 'j-line' },
    keyLabel(key),
    h('span', { class: 'j-punct' }, open),
    h('span', { class: 'j-collapsed' }, h('span', { class: 'j-ellipsis' }, '…'), h('span', { class: 'j-punct' }, close), comma ? ',' : '', h('span', { class: 'j-count' }, count(node)))
  );
  det.append(summary);
  const fillChildren = () => {
    const body = h('div', { class: 'j-children' });
    const entries = node.e;
    const isObj = node.t === 'o';
    // long containers render in chunks, so a 100,000-item array does not freeze the page
    const renderFrom = (start) => {
      const end = Math.min(entries.length, start + CHUNK);
      for (let i = start; i < end; i++) {
        const [k, v] = isObj ? entries[i] : [i, entries[i]];
        body.append(renderNode(isObj ? k : null, v, depth + 1, i === entries.length - 1, budget));
      }
      if (end < entries.length) {
        const more = h(
          'button',
          {
            class: 'btn small ghost j-more',
            type: 'button',
            onclick: () => {
              more.remove();
              renderFrom(end);
            },
          },
          `Show ${Math.min(CHUNK, entries.length - end).toLocaleString('en-US')} more of ${(entries.length - end).toLocaleString('en-US')}`
        );
        body.append(more);
      }
    };
    renderFrom(0);
    det.append(body, h('div', { class: 'j-line j-close' }, h('span', { class: 'j-punct' }, close), comma));
  };
  budget.left--;
  if (budget.left > 0 && (depth < 6 || node.e.length <= 20)) {
    det.open = true;
    fillChildren();
  } else {
    det.addEventListener('toggle', () => det.open && det.childElementCount === 1 && fillChildren());
  }
  return det;
}

/** Opens or closes every container of a rendered tree (rendering lazily closed ones). */
export function setTreeOpen(tree, open) {
  if (!open) {
    for (const d of tree.querySelectorAll('details.j-node')) d.open = false;
    const top = tree.querySelector('details.j-node');
    if (top) top.open = true;
    return;
  }
  // opening renders children lazily; repeat until no closed node is left (bounded)
  for (let pass = 0; pass < 50; pass++) {
    const closed = tree.querySelectorAll('details.j-node:not([open])');
    if (!closed.length) break;
    for (const d of closed) d.open = true;
    // toggle events fire asynchronously; render synchronously instead
    for (const d of closed) d.dispatchEvent(new Event('toggle'));
  }
}
