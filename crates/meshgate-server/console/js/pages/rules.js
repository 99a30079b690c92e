// Row rules of a product (#/rules/{domain}/{product}): an editable grid of the QuickSight-style
// rules (one per user or group, one column per field, comma-separated values, empty = all),
// CSV export and import, and "who sees what" — how many rows a person reads now
// (docs/design/ACCESS.md §Resolution 7, docs/API.md §Fine-grained access).

import { ApiError, act, ask, button, download, enc, field, get, h, link, mount, put, select, table, title, toast } from '../lib.js';

const toText = (vals) => (vals || []).join(', ');
const toList = (text) => String(text || '').split(',').map((s) => s.trim()).filter(Boolean);

export default async function rulesPage(ctx) {
  const [d, p] = ctx.parts;
  if (!d || !p) return [title('Row rules'), h('p', 'Choose a product on the ', link('/policy', 'Policy page'), '.')];
  const base = `products/${enc(d)}/${enc(p)}`;
  let product, rules, principals;
  try {
    [product, rules, principals] = await Promise.all([get(base), get(`${base}/row-rules`), get('principals').catch(() => [])]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      return [title(`Row rules of ${d}.${p}`), h('p', { class: 'error', role: 'alert' }, `Only owners and stewards of the team of ${d}.${p} (and mesh admins) see and edit its row rules.`)];
    }
    throw e;
  }
  const columns = [...new Set((product.tables || []).flatMap((t) => (t.columns || []).map((c) => c.name)))].sort();

  // The grid's state: rows of {user, group, values: {field: text}}.
  const state = {
    fields: [...new Set(rules.flatMap((r) => Object.keys(r.values || {})))],
    rows: rules.map((r) => ({ user: r.user_name || '', group: r.group_name || '', values: Object.fromEntries(Object.entries(r.values || {}).map(([k, v]) => [k, toText(v)])) })),
    bad: new Set(),
  };
  const users = principals.filter((x) => x.kind !== 'group').map((x) => x.name);
  const groups = principals.filter((x) => x.kind === 'group').map((x) => x.name);
  const userList = h('datalist', { id: 'rule-users' }, users.map((u) => h('option', { value: u })));
  const groupList = h('datalist', { id: 'rule-groups' }, groups.map((g) => h('option', { value: g })));

  const gridArea = h('div', { class: 'rules-grid' });
  const problems = h('div', { 'aria-live': 'polite' });
  const status = h('div', { 'aria-live': 'polite' });

  const cell = (row, key, label, list) =>
    h('input', {
      type: 'text',
      value: key === 'user' || key === 'group' ? row[key] : row.values[key] || '',
      'aria-label': label,
      list,
      autocomplete: 'off',
      on: {
        input: (e) => {
          if (key === 'user' || key === 'group') row[key] = e.target.value.trim();
          else row.values[key] = e.target.value;
        },
      },
    });

  function draw() {
    const cols = [
      { label: '#', render: (r) => String(state.rows.indexOf(r) + 1) },
      { label: 'User', render: (r) => cell(r, 'user', `User for rule ${state.rows.indexOf(r) + 1}`, 'rule-users') },
      { label: 'Group', render: (r) => cell(r, 'group', `Group for rule ${state.rows.indexOf(r) + 1}`, 'rule-groups') },
      ...state.fields.map((f) => ({
        label: [f, ' ', button('×', () => removeField(f), { class: 'btn link', 'aria-label': `Remove field ${f}` })],
        render: (r) => cell(r, f, `${f} for rule ${state.rows.indexOf(r) + 1}`),
      })),
      { label: 'Actions', render: (r) => button('Delete rule', () => deleteRule(r), { 'aria-label': `Delete rule ${state.rows.indexOf(r) + 1}` }) },
    ];
    const grid = table({ caption: `Row rules of ${d}.${p}`, columns: cols, rows: state.rows, empty: 'No row rules: everyone with access reads every row their grants admit.' });
    grid.querySelectorAll('tbody tr').forEach((tr, i) => {
      tr.classList.toggle('bad', state.bad.has(i));
      if (state.bad.has(i)) tr.querySelectorAll('input').forEach((x) => x.setAttribute('aria-invalid', 'true'));
    });
    mount(gridArea, grid);
  }

  function deleteRule(r) {
    state.rows.splice(state.rows.indexOf(r), 1);
    state.bad.clear();
    draw();
  }

  function removeField(f) {
    state.fields = state.fields.filter((x) => x !== f);
    state.rows.forEach((r) => delete r.values[f]);
    draw();
  }

  const fieldPick = select([], '');
  function drawFieldPick() {
    const left = columns.filter((c) => !state.fields.includes(c));
    mount(fieldPick, left.length ? left.map((c) => h('option', { value: c }, c)) : h('option', { value: '' }, 'every column is a field'));
  }
  drawFieldPick();

  const addRule = button('Add rule', () => {
    state.rows.push({ user: '', group: '', values: {} });
    draw();
    gridArea.querySelector('tbody tr:last-child input')?.focus();
  });
  const addField = button('Add field', () => {
    if (!fieldPick.value) return;
    state.fields.push(fieldPick.value);
    drawFieldPick();
    draw();
  });

  function showProblems(list) {
    draw();
    mount(problems, list.length ? h('div', { class: 'error', role: 'alert' }, h('p', 'The rules were not saved:'), h('ul', { class: 'offenders' }, list.map((x) => h('li', x)))) : null);
  }

  /** Marks the rows the server's message names (by user, group, "rule N" or CSV "line N"). */
  function mapOffenders(message) {
    const lines = message.split(/;\s*|\n/).map((s) => s.trim()).filter(Boolean);
    const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const names = (line, name) => name && new RegExp(`(^|[\\s,:\`'"(])${esc(name)}($|[\\s,;:.\`'")])`).test(line);
    state.bad.clear();
    return lines.map((line) => {
      const rows = new Set();
      state.rows.forEach((r, i) => {
        if ((/user/i.test(line) && names(line, r.user)) || (/group/i.test(line) && names(line, r.group))) rows.add(i);
        for (const f of state.fields) {
          if (names(line, f) && toList(r.values[f]).some((v) => names(line, v))) rows.add(i);
        }
      });
      const n = line.match(/\b(rule|row|line)\s+(\d+)/i);
      if (n) rows.add(Number(n[2]) - (n[1].toLowerCase() === 'line' ? 2 : 1));
      rows.forEach((i) => state.bad.add(i));
      const list = [...rows].filter((i) => i >= 0 && i < state.rows.length).sort((a, b) => a - b);
      return list.length ? `${line} (rule${list.length > 1 ? 's' : ''} ${list.map((i) => i + 1).join(', ')})` : line;
    });
  }

  function validate() {
    const list = [];
    state.bad.clear();
    state.rows.forEach((r, i) => {
      if (!r.user === !r.group) {
        state.bad.add(i);
        list.push(`Rule ${i + 1}: give exactly one of a user or a group${r.user && r.group ? ` (it has both ${r.user} and ${r.group})` : ''}.`);
      }
    });
    return list;
  }

  const save = button('Save rules', (e) =>
    act(e.currentTarget, status, async () => {
      const list = validate();
      if (list.length) return showProblems(list);
      const body = state.rows.map((r) => ({
        ...(r.user ? { user_name: r.user } : { group_name: r.group }),
        values: Object.fromEntries(state.fields.map((f) => [f, toList(r.values[f])])),
      }));
      try {
        const res = await put(`${base}/row-rules`, body);
        showProblems([]);
        const n = res && res.rules !== undefined ? res.rules : body.length;
        toast(`Saved ${n} rule${n === 1 ? '' : 's'}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 400) return showProblems(mapOffenders(err.message));
        throw err;
      }
      return undefined;
    }),
    { kind: 'primary' },
  );

  const exportCsv = button('Export CSV', (e) =>
    act(e.currentTarget, status, async () => {
      const text = await get(`${base}/row-rules?format=csv`, { accept: 'text/csv' });
      download(`${d}.${p}-row-rules.csv`, typeof text === 'string' ? text : String(text), 'text/csv');
    }),
  );

  const file = h('input', { type: 'file', accept: '.csv,text/csv' });
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    const text = await f.text();
    const n = text.split(/\r?\n/).filter((l) => l.trim()).length - 1;
    const ok = await ask({ title: `Import ${f.name}?`, body: `Its ${n} rule(s) replace every row rule of ${d}.${p}.`, confirm: 'Import and replace' });
    file.value = '';
    if (!ok) return;
    await act(null, status, async () => {
      try {
        const res = await put(`${base}/row-rules`, text, { raw: true, contentType: 'text/csv' });
        toast(`Imported ${res && res.rules !== undefined ? res.rules : n} rules`);
        ctx.rerender();
      } catch (err) {
        if (err instanceof ApiError && err.status === 400) {
          mount(problems, h('div', { class: 'error', role: 'alert' }, h('p', `${f.name} was not imported:`), h('ul', { class: 'offenders' }, err.message.split(/;\s*|\n/).filter(Boolean).map((x) => h('li', x)))));
          return;
        }
        throw err;
      }
    });
  });

  draw();
  return [
    title(`Row rules of ${d}.${p}`),
    h('p', 'A person reads a row when one of their rules (or their groups\') admits it: the fields of a rule must all match; an empty cell admits every value; list several values with commas. With no rule for them, they read no rows of this product. Owners are exempt.'),
    h('h2', 'Rules'),
    userList,
    groupList,
    gridArea,
    problems,
    h('div', { class: 'actions toolbar' }, addRule, h('div', { class: 'inline-form' }, field('Field to add', fieldPick), h('div', { class: 'actions' }, addField))),
    h('div', { class: 'actions' }, save, exportCsv),
    field('Import CSV file', file, { hint: 'QuickSight format: UserName,GroupName,<field>,… It replaces every rule.' }),
    status,
    await whoSees(base, principals),
  ];
}

async function whoSees(base, principals) {
  const people = principals.filter((x) => x.kind === 'user' || x.kind === 'service');
  const person = select(people.map((x) => ({ value: x.name, label: x.display_name && x.display_name !== x.name ? `${x.display_name} (${x.name})` : x.name })), '');
  const out = h('div', { 'aria-live': 'polite' });
  const count = button('Count rows', (e) =>
    act(e.currentTarget, out, async () => {
      const res = await get(`${base}/who-sees?principal=${enc(person.value)}`);
      mount(
        out,
        table({
          caption: `What ${res.principal || person.value} reads now`,
          rows: res.tables || [],
          empty: 'This product has no tables.',
          columns: [
            { label: 'Table', key: 'table' },
            { label: 'Readable', render: (t) => (t.readable ? 'yes' : 'no') },
            { label: 'Rows', className: 'num', render: (t) => (t.rows === null || t.rows === undefined ? '—' : Number(t.rows).toLocaleString()) },
            { label: 'Why', render: (t) => t.reason || '—' },
          ],
        }),
      );
    }),
  );
  return h(
    'section',
    { 'aria-labelledby': 'who-h' },
    h('h2', { id: 'who-h' }, 'Who sees what'),
    h('div', { class: 'inline-form' }, field('Person', person), h('div', { class: 'actions' }, count)),
    out,
  );
}


