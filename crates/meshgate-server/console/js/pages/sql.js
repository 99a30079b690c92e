// The SQL workbench (#/sql): run a read-only query as the signed-in person, see which output
// columns are masked for them, download the result as CSV, click a readable table to query
// it, and reload recent queries (kept in sessionStorage: this tab only, SQL text only).

import { api, act, download, enc, errorText, fmt, get, h, link, maskedTag, mount, teamNames, title } from '../lib.js';

const SHOWN = 1000;
const RECENT = 20;

export default async function sql(ctx) {
  const key = `meshgate.sql.recent.${ctx.me.principal.id}`;
  const editor = h('textarea', { class: 'sql', name: 'sql', rows: '8', spellcheck: 'false', autocomplete: 'off', placeholder: 'SELECT * FROM domain.product.table LIMIT 10' });
  const start = ctx.query.get('table');
  if (start && /^[a-z0-9_.]+$/i.test(start)) editor.value = `SELECT * FROM ${start} LIMIT 100`;
  const out = h('div', { class: 'sql-out', 'aria-live': 'polite' });
  const csvStatus = h('div');
  const runBtn = h('button', { type: 'submit', class: 'btn primary' }, 'Run');
  const csvBtn = h('button', { type: 'button', class: 'btn' }, 'Download CSV');
  const recentEl = h('div');
  const tablesEl = h('div', h('p', { class: 'loading' }, 'Loading your tables…'));

  const recent = {
    list: () => {
      try {
        const v = JSON.parse(sessionStorage.getItem(key) || '[]');
        return Array.isArray(v) ? v.filter((s) => typeof s === 'string') : [];
      } catch {
        return [];
      }
    },
    add: (text) => {
      const next = [text, ...recent.list().filter((s) => s !== text)].slice(0, RECENT);
      try {
        sessionStorage.setItem(key, JSON.stringify(next));
      } catch {
        /* storage full or off: recent queries are a convenience */
      }
      showRecent();
    },
    clear: () => {
      sessionStorage.removeItem(key);
      showRecent();
    },
  };

  const insert = (text) => {
    editor.value = text;
    editor.focus();
    editor.setSelectionRange(text.length, text.length);
  };

  function showRecent() {
    const items = recent.list();
    mount(
      recentEl,
      items.length
        ? [
          h('ul', { class: 'plain recent' }, items.map((s) => h('li', h('button', { type: 'button', class: 'btn link code', title: s, on: { click: () => insert(s) } }, short(s))))),
          h('button', { type: 'button', class: 'btn', on: { click: recent.clear } }, 'Clear'),
        ]
        : h('p', { class: 'empty' }, 'Queries you run in this tab appear here.'),
    );
  }

  const run = () => act(runBtn, out, async () => {
    const text = editor.value.trim();
    if (!text) {
      editor.setAttribute('aria-invalid', 'true');
      mount(out, h('p', { class: 'error', role: 'alert' }, 'Write a query first, e.g. SELECT * FROM domain.product.table LIMIT 10.'));
      editor.focus();
      return;
    }
    editor.removeAttribute('aria-invalid');
    mount(out, h('p', { class: 'loading', role: 'status' }, 'Running…'));
    recent.add(text);
    const t0 = performance.now();
    let res;
    try {
      res = await api('POST', 'query', { sql: text, format: 'json' }, { response: true });
    } catch (e) {
      mount(out, failure(e));
      return;
    }
    const rows = await res.json();
    const ms = Math.round(performance.now() - t0);
    const masked = new Set((res.headers.get('X-Meshgate-Masked-Columns') || '').split(',').map((s) => s.trim()).filter(Boolean).map(decode));
    mount(out, results(Array.isArray(rows) ? rows : [], masked, ms));
  });

  csvBtn.addEventListener('click', () => act(csvBtn, csvStatus, async () => {
    const text = editor.value.trim();
    if (!text) {
      mount(csvStatus, h('p', { class: 'error', role: 'alert' }, 'Write a query first, then download its result.'));
      return;
    }
    try {
      const csv = await api('POST', 'query', { sql: text, format: 'csv' }, { accept: 'text/csv' });
      download('query.csv', typeof csv === 'string' ? csv : JSON.stringify(csv), 'text/csv');
    } catch (e) {
      mount(csvStatus, failure(e));
    }
  }));

  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });

  const form = h(
    'form',
    { class: 'card', on: { submit: (e) => { e.preventDefault(); run(); } } },
    h('div', { class: 'field' }, h('label', { for: 'sql-text' }, 'SQL'), Object.assign(editor, { id: 'sql-text' }),
      h('p', { class: 'hint', id: 'sql-hint' }, 'Tables are named domain.product.table. Ctrl+Enter runs. Only reads are allowed; you see what your grants let you see.')),
    h('div', { class: 'actions' }, runBtn, csvBtn),
    csvStatus,
  );
  editor.setAttribute('aria-describedby', 'sql-hint');

  showRecent();
  readableTables(ctx).then((names) => mount(
    tablesEl,
    names.length
      ? h('ul', { class: 'plain tables-list' }, names.map((n) => h('li', h('button', {
        type: 'button',
        class: 'btn link code',
        'aria-label': `Query ${n}`,
        on: { click: () => insert(`SELECT * FROM ${n} LIMIT 100`) },
      }, n))))
      : h('p', { class: 'empty' }, 'You read no table yet. Find one in the ', link('/catalog', 'catalog'), ' and request access.'),
  )).catch((e) => mount(tablesEl, h('p', { class: 'error' }, errorText(e))));

  return [
    title('SQL workbench'),
    h(
      'div',
      { class: 'sidebar-layout sql-layout' },
      h('div', { class: 'sql-main' }, form, h('section', { 'aria-label': 'Query results' }, out)),
      h(
        'aside',
        { class: 'sql-side', 'aria-label': 'Tables and recent queries' },
        h('section', { 'aria-labelledby': 'sql-tables-h' }, h('h2', { id: 'sql-tables-h' }, 'Your tables'), h('p', { class: 'hint' }, 'Click one to query it.'), tablesEl),
        h('section', { 'aria-labelledby': 'sql-recent-h' }, h('h2', { id: 'sql-recent-h' }, 'Recent queries'), recentEl),
      ),
    ),
  ];
}

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const short = (s) => {
  const one = s.replace(/\s+/g, ' ');
  return one.length > 90 ? `${one.slice(0, 87)}…` : one;
};

function results(rows, masked, ms) {
  const cols = [];
  for (const r of rows.slice(0, SHOWN)) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const count = rows.length === 1 ? '1 row' : `${rows.length} rows`;
  const caption = `Results (${count}, ${ms} ms)`;
  if (rows.length === 0) {
    return h('p', { class: 'empty', role: 'status' }, `${caption}: the query returned no rows.`);
  }
  const shown = rows.slice(0, SHOWN);
  const t = h(
    'table',
    { class: 'results-table' },
    h('caption', caption),
    h('thead', h('tr', cols.map((c) => h('th', { scope: 'col', class: masked.has(c) ? 'masked' : null }, c, masked.has(c) ? maskedTag() : null)))),
    h('tbody', shown.map((r) => h('tr', cols.map((c) => h('td', { class: [masked.has(c) ? 'masked' : '', typeof r[c] === 'number' ? 'num' : ''] }, fmt(r[c])))))),
  );
  return [
    masked.size ? h('p', { class: 'hint' }, `Columns marked “masked” show masked values: the owners' rules hide their real values from you.`) : null,
    rows.length > SHOWN ? h('p', { class: 'hint' }, `Showing the first ${SHOWN} of ${rows.length} rows. Use Download CSV for all of them, or add LIMIT.`) : null,
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Results' }, t),
  ];
}

function failure(e) {
  const msg = errorText(e);
  const denied = /not found|denied|forbidden|permission|does not exist|access/i.test(e && e.message ? e.message : '');
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('p', msg),
    denied
      ? h('p', 'Check the name in “Your tables”. If the table is not there, find its product in the ', link('/catalog', 'catalog'), ' and request access.')
      : h('p', 'Fix the query and run it again.'),
  );
}

/** The SQL names I can read: shared tables (GET access) and my own teams' products. */
async function readableTables(ctx) {
  const names = new Set();
  const shared = await get('access').catch(() => []);
  for (const r of shared) for (const n of r.sql_names || []) names.add(n);
  const teams = teamNames(ctx.me);
  const lists = await Promise.all(teams.map((t) => {
    const [d, team] = t.split('.');
    return get(`products?domain=${enc(d)}&team=${enc(team)}`).catch(() => []);
  }));
  const products = lists.flat().slice(0, 40);
  const details = await Promise.all(products.map((p) => get(`products/${enc(p.domain)}/${enc(p.name)}`).catch(() => null)));
  for (const d of details) if (d) for (const t of d.tables || []) names.add(`${d.domain}.${d.name}.${t.name}`);
  return [...names].sort();
}
