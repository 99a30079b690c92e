// The helpers every console page uses (docs/design/CONSOLE.md §Code).
//
// One rule keeps the console free of script injection: text from the server reaches the page
// only as text — through h() and text nodes. Nothing in the console parses a string as HTML
// (no inner/outer HTML property, no adjacent-HTML insertion, no document writes), evaluates a
// string as code, or builds an inline event handler or style; the Content-Security-Policy
// forbids inline script and style anyway, and the browser suite (tests/console) checks the
// sources for those APIs.

let csrf = null;

/** The session's CSRF token, sent in `X-CSRF-Token` with every write. Kept in memory only. */
export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/**
 * Calls the server. `path` is under `/api/v1/` unless it starts with `/`. A JSON body is
 * sent as JSON; with `opts.raw` the body is sent as is with `opts.contentType`.
 * Returns the parsed JSON (or text), or the Response with `opts.response`.
 * Throws ApiError with the server's own message.
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: opts.accept || 'application/json' };
  let payload;
  if (body !== undefined && body !== null) {
    if (opts.raw) {
      payload = body;
      if (opts.contentType) headers['Content-Type'] = opts.contentType;
    } else {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  const url = path.startsWith('/') ? path : `/api/v1/${path}`;
  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check that meshgate is running, then try again.');
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.quiet) window.dispatchEvent(new CustomEvent('meshgate:signed-out'));
    let err = {};
    try {
      const j = await res.json();
      err = j.error || { message: j.message || j.detail };
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText || 'request failed', err.request_id);
  }
  if (opts.response) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  if (type.includes('json')) return res.json();
  return res.text();
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body = {}, opts) => api('POST', path, body, opts);
export const put = (path, body = {}, opts) => api('PUT', path, body, opts);
export const patch = (path, body = {}, opts) => api('PATCH', path, body, opts);
export const del = (path, body, opts) => api('DELETE', path, body, opts);

/** A path segment, percent-encoded. Use for every name put into a URL path. */
export const enc = (s) => encodeURIComponent(String(s));

/** A query string from an object, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.append(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

const FORBIDDEN = /^(on|innerhtml$|outerhtml$|style$|srcdoc$)/i;

/** Only links inside the console, to this server, or to http(s)/mailto. */
export function safeUrl(v) {
  const s = String(v);
  if (s.startsWith('#') || (s.startsWith('/') && !s.startsWith('//')) || /^(https?:|mailto:|blob:)/i.test(s)) return s;
  return '#';
}

/**
 * Makes an element: h('a', {href: '#/catalog', class: 'btn'}, 'Catalog', child, [more]).
 * Props: attributes (set as attributes; `value`, `checked`, `selected`, `indeterminate` as
 * properties), `class` (string or array), `on: {event: handler}`. Children: strings and
 * numbers become text, nodes are appended, arrays flattened, null/false/undefined skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props === null || props === undefined || typeof props !== 'object' || props instanceof Node || Array.isArray(props)) {
    if (props !== null && props !== undefined) children.unshift(props);
    props = {};
  }
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [event, fn] of Object.entries(v)) el.addEventListener(event, fn);
    } else if (FORBIDDEN.test(k)) {
      throw new Error(`h(): the attribute ${k} is not allowed (see lib.js)`);
    } else if (k === 'href' || k === 'src' || k === 'action') {
      el.setAttribute(k, safeUrl(v));
    } else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'indeterminate') {
      el[k] = v;
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let ids = 0;
/** A fresh element id. */
export const uid = (prefix = 'f') => `${prefix}-${++ids}`;

/** A labelled form control: field('Reason', h('textarea', {name: 'reason'}), {hint}). */
export function field(label, control, { hint, required } = {}) {
  if (!control.id) control.id = uid();
  const parts = [h('label', { for: control.id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null)];
  if (required) control.required = true;
  parts.push(control);
  if (hint) {
    const hid = uid('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('p', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

/** A <select> of options [{value, label}] or plain strings. */
export function select(options, value, props = {}) {
  return h(
    'select',
    props,
    options.map((o) => {
      const opt = typeof o === 'object' ? o : { value: o, label: o };
      return h('option', { value: opt.value, selected: String(opt.value) === String(value ?? '') }, opt.label ?? opt.value);
    }),
  );
}

/** A button: button('Approve', handler, {kind: 'primary'|'danger'|'', ...attrs}). */
export function button(label, onClick, { kind = '', ...props } = {}) {
  return h('button', { type: 'button', class: ['btn', kind], ...props, on: onClick ? { click: onClick } : undefined }, label);
}

/**
 * Runs a long action from a button: the button is disabled and says so (aria-busy) until it
 * ends; an error is shown in `status` (an element) with what to do, and re-thrown as false.
 * Returns the action's result, or undefined after an error.
 */
export async function act(btn, status, fn) {
  const label = btn ? btn.textContent : '';
  if (btn) {
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    btn.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), `${label}…`);
  }
  if (status) mount(status);
  try {
    return await fn();
  } catch (e) {
    if (status) mount(status, errorBox(e));
    else toast(errorText(e), 'error');
    return undefined;
  } finally {
    if (btn) {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
      btn.replaceChildren(label);
    }
  }
}

/** What went wrong and what to do, in words. */
export function errorText(e) {
  if (!(e instanceof ApiError)) return `Something went wrong in the page: ${e && e.message ? e.message : e}. Reload and try again.`;
  const what = e.message;
  switch (e.status) {
    case 0:
      return what;
    case 401:
      return `${what}. Your session has ended: sign in again.`;
    case 403:
      return `${what}. Ask an owner of the product or a mesh admin if you need this.`;
    case 404:
      return `${what}. It may have been removed, or you may not see it.`;
    default:
      if (e.status >= 500) return `The server failed (${what}). Try again; if it persists, give your admin the request id ${e.requestId || '(none)'}.`;
      return what;
  }
}

export function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, errorText(e));
}

/** A short message announced to screen readers, gone after a few seconds. */
export function toast(text, kind = 'ok') {
  let area = document.getElementById('toasts');
  if (!area) {
    area = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(area);
  }
  const t = h('p', { class: ['toast', kind] }, text);
  area.appendChild(t);
  setTimeout(() => t.remove(), 6000);
}

/**
 * A table: table({caption, columns: [{label, key | render(row)}], rows, empty}).
 * Wrapped so that it scrolls sideways on a narrow screen.
 */
export function table({ caption, columns, rows, empty = 'Nothing here yet.', className }) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, empty);
  const t = h(
    'table',
    { class: className },
    caption ? h('caption', caption) : null,
    h('thead', h('tr', columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label)))),
    h(
      'tbody',
      rows.map((r) =>
        h(
          'tr',
          columns.map((c) => h('td', { class: c.className }, c.render ? c.render(r) : fmt(r[c.key]))),
        ),
      ),
    ),
  );
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'table' }, t);
}

/** A value as text: null as an em dash, objects as JSON. */
export function fmt(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** The marker of a masked column, after its name (a space first, so it reads "name masked"). */
export function maskedTag() {
  return [' ', h('span', { class: 'tag-masked' }, 'masked')];
}

/** A status word as a badge. */
export function badge(text, kind) {
  return h('span', { class: ['badge', kind || String(text).replace(/[^a-z_]/gi, '')] }, text);
}

export function loading(what = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, what);
}

/** The page's heading; also sets the window title. */
export function title(text, ...extra) {
  document.title = `${text} · meshgate`;
  return h('h1', { tabindex: '-1' }, text, extra);
}

/** Offers `text` as a file download named `name`. */
export function download(name, text, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, class: 'hidden' });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A snippet to copy: a labelled <pre> and a Copy button. */
export function snippet(label, text) {
  const id = uid('snip');
  const pre = h('pre', { id, tabindex: '0' }, text);
  return h(
    'div',
    { class: 'snippet' },
    h('div', { class: 'snippet-head' }, h('span', { id: `${id}-l` }, label), button('Copy', async () => {
      try {
        await navigator.clipboard.writeText(text);
        toast(`${label}: copied`);
      } catch {
        toast('The browser would not copy: select the text and copy it by hand', 'error');
      }
    }, { 'aria-describedby': `${id}-l` })),
    pre,
  );
}

/**
 * Asks for confirmation in a modal dialog (keyboard: Tab, Enter, Escape). With `input` (a
 * label), asks for a text too. Resolves to true / the text, or null when cancelled.
 */
export async function ask({ title: heading, body, confirm = 'Confirm', danger = false, input, required = false }) {
  const fields = input ? [{ label: input, control: h('textarea', { rows: '3', name: 'text' }), required }] : [];
  const answer = await askForm({ title: heading, body, fields, confirm, danger });
  if (answer === null) return null;
  return input ? answer.text : true;
}

/**
 * A modal dialog with labelled controls: askForm({title, body, fields: [{label, control,
 * required, hint}], confirm, danger}). Resolves to {control name: value} (checkboxes: checked),
 * or null when cancelled. Empty required controls are marked and keep the dialog open.
 */
export function askForm({ title: heading, body, fields = [], confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const status = h('div');
    const dlg = h('dialog', { class: 'ask', 'aria-labelledby': 'askf-title' });
    const close = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    const ok = button(confirm, () => {
      const missing = fields.filter((f) => f.required && !String(f.control.value || '').trim());
      for (const f of fields) f.control.removeAttribute('aria-invalid');
      if (missing.length) {
        for (const f of missing) f.control.setAttribute('aria-invalid', 'true');
        mount(status, h('p', { class: 'error', role: 'alert' }, `${missing.map((f) => f.label).join(', ')}: required.`));
        missing[0].control.focus();
        return;
      }
      const out = {};
      for (const f of fields) out[f.control.name] = f.control.type === 'checkbox' ? f.control.checked : String(f.control.value || '').trim();
      close(out);
    }, { kind: danger ? 'danger' : 'primary' });
    append(dlg, [
      h('h2', { id: 'askf-title' }, heading),
      body ? h('p', body) : null,
      fields.map((f) => field(f.label, f.control, { required: f.required, hint: f.hint })),
      status,
      h('div', { class: 'actions' }, ok, button('Cancel', () => close(null))),
    ]);
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      close(null);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    (fields[0] ? fields[0].control : ok).focus();
  });
}

/** The current route: '#/inbox/abc?x=1' → {parts: ['inbox', 'abc'], query: URLSearchParams}. */
export function route() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(2) : '';
  const [path, query = ''] = hash.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

/** Goes to a console route, e.g. go('/inbox', {share: id}). */
export function go(path, params) {
  location.hash = `#${path}${qs(params)}`;
}

/** A console link: link('/products/sales/orders', 'sales.orders'). */
export function link(path, text, props = {}) {
  return h('a', { href: `#${path}`, ...props }, text);
}

/** Splits 'domain.product' into its parts. */
export function split(dotted) {
  const i = String(dotted).indexOf('.');
  return i < 0 ? [dotted, ''] : [dotted.slice(0, i), dotted.slice(i + 1)];
}

// consumer pages

/** Words (tags, terms) as a row of small badges, or an em dash when there are none. */
export function tagList(words, kind = 'tag') {
  if (!words || words.length === 0) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: ['tags', 'plain'] }, words.map((w) => h('li', h('span', { class: ['badge', kind] }, w))));
}

/** A description list from [[term, value], …]; pairs with a null value are skipped. */
export function defs(pairs, className = 'defs') {
  return h(
    'dl',
    { class: className },
    pairs.filter((p) => p && p[1] !== null && p[1] !== undefined).map(([k, v]) => [h('dt', k), h('dd', v)]),
  );
}

/** A whoami team entry ({team: 'domain.team', role}) as 'domain.team'. */
export const teamName = (t) => String(t.team);

/** The signed-in person's teams as 'domain.team' names. */
export const teamNames = (me) => (me.teams || []).map(teamName);

// owner pages

/** Sub-navigation between the views of a page: subnav('Policy views', [{path, label}], currentPath). */
export function subnav(label, items, current) {
  return h(
    'nav',
    { class: 'subnav', 'aria-label': label },
    h('ul', items.map((it) => h('li', h('a', { href: `#${it.path}`, 'aria-current': it.path === current ? 'page' : null }, it.label)))),
  );
}

/** A checkbox with its label after it: checkbox('email', {checked: true, name}). */
export function checkbox(label, props = {}) {
  const box = h('input', { type: 'checkbox', id: uid('cb'), ...props });
  return h('label', { class: 'check', for: box.id }, box, ' ', label);
}

/** Shows an error under a control (aria-invalid + a described-by message); null clears it. */
export function fieldError(control, message) {
  const id = `${control.id}-err`;
  document.getElementById(id)?.remove();
  const described = (control.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== id);
  if (!message) {
    control.removeAttribute('aria-invalid');
    if (described.length) control.setAttribute('aria-describedby', described.join(' '));
    else control.removeAttribute('aria-describedby');
    return;
  }
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', [...described, id].join(' '));
  control.after(h('p', { class: 'field-error', id }, message));
}

/** Fetches several paths at once; a failed one gives `fallback` instead of failing all. */
export function getAll(paths, fallback = null) {
  return Promise.all(paths.map((p) => get(p).catch(() => fallback)));
}

