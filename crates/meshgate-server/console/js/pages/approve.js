// The approval form of a share (used by share.js): per requested table, a data filter, the
// kept columns and a mask per column; a preview of what the requester would read as given;
// then Approve (narrowed as given) or Reject. See docs/API.md §Shares and §Fine-grained access.

import { ApiError, act, ask, button, checkbox, enc, field, fmt, get, h, maskedTag, mount, post, select, split, table, toast } from '../lib.js';

const MASKS = ['redact', 'show_last_4', 'show_first_4', 'hash', 'null'];

const isDateLike = (type) => /date|timestamp/i.test(String(type || ''));

/** Mask options for a column of `type`: "No mask" plus those that fit it. */
function maskOptions(type) {
  const opts = [{ value: '', label: 'No mask' }, ...MASKS.map((m) => ({ value: m, label: m }))];
  if (isDateLike(type)) opts.push({ value: 'date_year_only', label: 'date_year_only' });
  return opts;
}

/** One table item's controls; `read()` gives its narrowing (or null when nothing is narrowed). */
async function tableControls(share, product, tableName) {
  const [d, p] = split(share.product);
  const t = (product.tables || []).find((x) => x.name === tableName) || { columns: [] };
  const filters = await get(`products/${enc(d)}/${enc(p)}/tables/${enc(tableName)}/data-filters`).catch(() => []);
  const filterSel = select(
    [{ value: '', label: 'No filter (all rows)' }, ...filters.map((f) => ({ value: f.name, label: f.description ? `${f.name} — ${f.description}` : f.name }))],
    '',
  );
  const cols = (t.columns || []).map((c) => {
    const cb = checkbox(c.name, { checked: true, value: c.name });
    const mask = select(maskOptions(c.data_type), '', { 'aria-label': `Mask for ${c.name}` });
    const box = cb.querySelector('input');
    box.addEventListener('change', () => {
      mask.disabled = !box.checked;
    });
    return { name: c.name, box, mask, row: h('div', { class: 'col-row' }, cb, h('span', { class: 'muted type' }, c.data_type), mask) };
  });
  const node = h(
    'fieldset',
    { class: 'approve-table' },
    h('legend', tableName),
    field(`Data filter for ${tableName}`, filterSel, { hint: filters.length ? 'A named row filter of the product (Policy page).' : 'This table has no data filters yet.' }),
    h('fieldset', { class: 'columns' }, h('legend', `Columns of ${tableName}`), cols.length ? cols.map((c) => c.row) : h('p', { class: 'empty' }, 'No columns known.')),
  );
  const read = () => {
    const item = { table: tableName };
    if (filterSel.value) item.data_filters = [filterSel.value];
    const kept = cols.filter((c) => c.box.checked).map((c) => c.name);
    if (kept.length < cols.length) item.columns = kept;
    const masks = {};
    for (const c of cols) if (c.box.checked && c.mask.value) masks[c.name] = c.mask.value;
    if (Object.keys(masks).length) item.masks = masks;
    return item;
  };
  const valid = () => cols.length === 0 || cols.some((c) => c.box.checked);
  return { node, read, valid, tableName };
}

function previewTable(t, who) {
  const masked = new Set((t.columns || []).filter((c) => c.masked).map((c) => c.name));
  const columns = (t.columns || []).map((c) => ({
    label: c.masked ? [c.name, maskedTag()] : c.name,
    className: c.masked ? 'masked' : undefined,
    render: (r) => fmt(r[c.name]),
  }));
  return h(
    'div',
    { class: 'preview' },
    table({
      caption: `Preview of ${t.table} as ${who}`,
      columns,
      rows: t.rows || [],
      empty: `${t.table}: no row would be read as given.`,
    }),
    h(
      'p',
      { class: 'muted' },
      `${t.total_rows === undefined || t.total_rows === null ? "?" : Number(t.total_rows).toLocaleString()} rows in all`,
      masked.size ? ` · masked: ${[...masked].join(', ')}` : '',
    ),
  );
}

/**
 * The approval form. `onDone()` is called after a decision (to reload the page).
 */
export default async function approvalForm({ share, product, onDone }) {
  const who = share.requester_team || share.requester_principal || 'the requester';
  const pending = (share.items || []).filter((i) => i.status === 'pending_approval');
  const tableItems = pending.filter((i) => i.kind === 'table');
  const others = pending.filter((i) => i.kind !== 'table');
  const controls = await Promise.all(tableItems.map((i) => tableControls(share, product, i.table)));
  const status = h('div', { 'aria-live': 'polite' });
  const previewArea = h('div', { 'aria-live': 'polite' });
  const notes = h('textarea', { rows: '3', name: 'notes' });
  const expiry = h('input', { type: 'datetime-local', name: 'expires_at' });

  const items = () => controls.map((c) => c.read()).filter((i) => Object.keys(i).length > 1);
  const check = () => {
    const empty = controls.find((c) => !c.valid());
    if (empty) throw new ApiError(400, 'invalid_request', `Keep at least one column of ${empty.tableName}, or reject the request`);
  };

  const preview = button('Preview', (e) =>
    act(e.currentTarget, previewArea, async () => {
      check();
      mount(previewArea, h('p', { class: 'loading', role: 'status' }, `Reading as ${who}…`));
      let res;
      try {
        res = await post(`shares/${enc(share.id)}/preview`, { items: items(), limit: 5 });
      } catch (err) {
        if (err instanceof ApiError && (err.status === 405 || (err.status === 404 && !/share/i.test(err.message)))) {
          throw new ApiError(err.status, err.code, 'This server does not offer previews yet (POST /shares/{id}/preview). Approve without a preview, or update meshgate');
        }
        throw err;
      }
      mount(previewArea, h('h3', 'Preview'), (res.tables || []).map((t) => previewTable(t, who)));
    }),
  );

  const approve = button('Approve', (e) =>
    act(e.currentTarget, status, async () => {
      check();
      const body = { notes: notes.value.trim() || undefined, items: items(), wait: true };
      if (expiry.value) body.expires_at = new Date(expiry.value).toISOString();
      mount(status, h('p', { class: 'loading', role: 'status' }, 'Approving and putting the grants in force — this can take a few seconds…'));
      const res = await post(`shares/${enc(share.id)}/approve`, body);
      toast(`Approved: the share is ${res.status}`);
      onDone();
    }),
    { kind: 'primary' },
  );

  const reject = button('Reject', async (e) => {
    const why = await ask({ title: `Reject the request for ${share.product}`, body: `${who} will see your notes.`, input: 'Notes for the requester', confirm: 'Reject', danger: true });
    if (why === null) return;
    await act(e.currentTarget, status, async () => {
      await post(`shares/${enc(share.id)}/reject`, { notes: why || undefined });
      toast('Rejected');
      onDone();
    });
  }, { kind: 'danger' });

  return h(
    'form',
    { class: 'card approve', 'aria-labelledby': 'decide-h', on: { submit: (e) => e.preventDefault() } },
    h('h2', { id: 'decide-h' }, 'Decision'),
    h('p', `Approve as requested, or narrow each table first: a data filter, the columns to keep and a mask per column. ${who} will read exactly what the preview shows.`),
    controls.map((c) => c.node),
    others.length
      ? h('p', { class: 'muted' }, `Also pending, approved as requested: ${others.map((i) => (i.kind === 'folder' ? `folder ${i.folder}` : 'the whole product')).join(', ')}.`)
      : null,
    field('Decision notes', notes, { hint: 'Shown to the requester.' }),
    field('Expiry (optional)', expiry, { hint: share.requested_expiry ? 'Only earlier than the requested expiry.' : 'Leave empty for no expiry.' }),
    h('div', { class: 'actions' }, preview, approve, reject),
    status,
    previewArea,
  );
}
