// My access (#/access): the shares my teams requested, what I read through them now, how to
// read it (SQL, pandas, a Delta Sharing profile), and the requester's actions: extend,
// finalize (a local name), delete, submit a draft, cancel an extension.

import {
  ApiError, act, ask, askForm, badge, del, download, enc, fmtTime, get, h, link, mount, post, snippet, table, teamNames, title, toast,
} from '../lib.js';

export default async function access(ctx) {
  const teams = teamNames(ctx.me);
  const [lists, reads] = await Promise.all([
    teams.length
      ? Promise.all(teams.flatMap((t) => [
        get(`shares?requester=${encodeURIComponent(t)}`),
        // deleted (archived) shares are listed only when asked for
        get(`shares?requester=${encodeURIComponent(t)}&status=deleted`).catch(() => []),
      ]))
      : get('shares').then((all) => [all.filter((s) => [ctx.me.principal.id, ctx.me.principal.name].includes(s.requester_principal) || [ctx.me.principal.id, ctx.me.principal.name].includes(s.created_by))]),
    get('access'),
  ]);
  const seen = new Set();
  const shares = lists.flat().filter((s) => !seen.has(s.id) && seen.add(s.id));
  shares.sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)));
  const active = shares.filter((s) => s.status !== 'deleted');
  const archived = shares.filter((s) => s.status === 'deleted');

  return [
    title('My access'),
    h('p', { class: 'hint' }, teams.length
      ? `The data your team${teams.length > 1 ? 's' : ''} (${teams.join(', ')}) requested, and how to read it.`
      : 'The data you requested, and how to read it.'),
    readsSection(reads),
    profileSection(ctx),
    h('section', { 'aria-labelledby': 'shares-h' },
      h('h2', { id: 'shares-h' }, 'Requests and shares'),
      active.length
        ? h('ul', { class: 'plain share-list' }, active.map((s) => h('li', shareCard(ctx, s, reads))))
        : h('p', { class: 'empty' }, 'No requests yet. Find a product in the ', link('/catalog', 'catalog'), ' and choose “Request access”.'),
      archived.length
        ? h('details', { class: 'archived' },
          h('summary', `Deleted shares (${archived.length})`),
          h('ul', { class: 'plain share-list' }, archived.map((s) => h('li', shareCard(ctx, s, reads)))))
        : null),
  ];
}

/** The tables and folders I read now (GET access), with ready-to-copy snippets. */
function readsSection(reads) {
  const tables = [...new Set(reads.flatMap((r) => (r.sql_names || []).filter((n) => n.startsWith(`${r.product}.`))))].sort();
  return h(
    'section',
    { 'aria-labelledby': 'reads-h' },
    h('h2', { id: 'reads-h' }, 'What you read now'),
    table({
      caption: 'Shared tables and folders',
      columns: [
        { label: 'Product', render: (r) => link(`/products/${r.product.split('.').map(enc).join('/')}`, r.product) },
        { label: 'Item', render: (r) => (r.kind === 'folder' ? `folder ${r.folder || '/'}` : r.kind === 'product' ? 'whole product' : r.table) },
        { label: 'SQL names', render: (r) => ((r.sql_names || []).length ? h('ul', { class: 'plain' }, r.sql_names.map((n) => h('li', h('code', n)))) : '—') },
        { label: 'Expires', render: (r) => (r.expires_at ? fmtTime(r.expires_at) : 'never') },
        { label: 'Health', render: (r) => (r.health ? badge(r.health) : '—') },
      ],
      rows: reads,
      empty: 'You read nothing through shares yet. When a request is approved, its tables appear here.',
    }),
    tables.length
      ? h('div', { class: 'snippets' },
        snippet('SQL (SQL workbench or POST /api/v1/query)', tables.map((t) => `SELECT * FROM ${t} LIMIT 10;`).join('\n')),
        snippet('Python (pandas, with the Delta Sharing profile below)', ['import delta_sharing', ...tables.map((t) => `df = delta_sharing.load_as_pandas("meshgate.share#${t}")`)].join('\n')),
        h('p', h('a', { href: '#/sql' }, 'Open the SQL workbench')))
      : null,
  );
}

/** A Delta Sharing profile for the signed-in principal: a new recipient token, shown once. */
function profileSection(ctx) {
  const status = h('div', { 'aria-live': 'polite' });
  const btn = h('button', { type: 'button', class: 'btn' }, 'Download Delta Sharing profile');
  btn.addEventListener('click', () => act(btn, status, async () => {
    const made = await post(`recipients/${enc(ctx.me.principal.name)}/tokens`, { name: 'console', expires_in_days: 30 });
    const path = new URL(made.profile_url, location.origin).pathname;
    const profile = await get(path);
    const text = typeof profile === 'string' ? profile : JSON.stringify(profile, null, 2);
    download('meshgate.share', text, 'application/json');
    mount(status, h('p', { class: 'ok-box' }, 'Downloaded meshgate.share. It holds a secret token that meshgate showed this once: keep the file private. It works for 30 days; download a new one at any time.'));
    toast('Delta Sharing profile downloaded');
    await showTokens();
  }));
  const tokens = h('div');
  const base = `recipients/${enc(ctx.me.principal.name)}/tokens`;
  async function showTokens() {
    let list;
    try {
      list = await get(base);
    } catch (e) {
      mount(tokens, h('p', { class: 'muted' }, `Your Delta Sharing tokens cannot be listed: ${e.message}`));
      return;
    }
    mount(tokens, table({
      caption: 'Your Delta Sharing tokens',
      rows: list.filter((t) => !t.revoked_at),
      empty: 'You have no Delta Sharing token: download a profile to make one.',
      columns: [
        { label: 'Name', render: (t) => t.name || t.kind },
        { label: 'Created', render: (t) => fmtTime(t.created_at) },
        { label: 'Expires', render: (t) => fmtTime(t.expires_at) },
        { label: 'Last used', render: (t) => fmtTime(t.last_used_at) },
        { label: 'State', render: (t) => badge(t.awaiting_download ? 'awaiting download' : t.usable ? 'usable' : 'expired') },
        {
          label: 'Actions',
          render: (t) => {
            const b = h('button', { type: 'button', class: 'btn danger', 'aria-label': `Revoke token ${t.name || t.id}, created ${fmtTime(t.created_at)}` }, 'Revoke');
            b.addEventListener('click', async () => {
              if (!(await ask({ title: 'Revoke this token?', body: 'Every profile file made with it stops working at once.', confirm: 'Revoke', danger: true }))) return;
              await act(b, status, async () => {
                await del(`${base}/${enc(t.id)}`);
                toast('Token revoked');
                await showTokens();
              });
            });
            return b;
          },
        },
      ],
    }));
  }
  showTokens();
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'profile-h' },
    h('h2', { id: 'profile-h' }, 'Delta Sharing profile'),
    h('p', 'Spark, pandas, Power BI and other Delta Sharing clients read what you read here with a profile file. Each download makes a new token valid for 30 days; the file is shown only once, so save it.'),
    btn,
    status,
    tokens,
  );
}

function shareCard(ctx, s, reads) {
  const status = h('div', { 'aria-live': 'polite' });
  const rerender = () => ctx.rerender();
  const id = `share-${s.id}`;
  const items = s.items || [];
  const summary = s.summary || {};
  const expiry = s.expires_at || s.requested_expiry;
  const actions = [];
  const canExtend = (s.status === 'processed' || s.status === 'extension_rejected') && (summary.shared || 0) > 0;
  if (s.status === 'draft') actions.push(actionButton('Submit', 'primary', status, async () => {
    await post(`shares/${s.id}/submit`, {});
    toast(`Request for ${s.product} submitted`);
    rerender();
  }));
  if (canExtend) actions.push(actionButton('Extend', '', status, () => extend(s, rerender)));
  if (s.status === 'submitted_for_extension') actions.push(actionButton('Cancel extension', '', status, async () => {
    if (!(await ask({ title: `Cancel the extension of ${s.product}?`, body: 'The share keeps its current expiry.', confirm: 'Cancel extension' }))) return;
    await post(`shares/${s.id}/extension/cancel`, {});
    rerender();
  }));
  if (s.status === 'processed' && !s.local_name && (summary.shared || 0) > 0) actions.push(actionButton('Finalize', '', status, () => finalize(s, rerender)));
  if (s.status !== 'deleted') actions.push(actionButton('Delete', 'danger', status, () => remove(s, rerender)));

  for (const b of actions) b.setAttribute('aria-describedby', id);
  const mine = reads.filter((r) => r.share_id === s.id);
  return h(
    'article',
    { class: 'card share-card', 'aria-labelledby': id },
    h('h3', { id }, link(`/shares/${s.id}`, s.product), ' ', badge(s.status.replace(/_/g, ' '), s.status)),
    h('dl', { class: 'defs' },
      h('dt', 'Requested by'), h('dd', s.requester_team || 'you'),
      h('dt', 'Expires'), h('dd', s.expires_at ? fmtTime(s.expires_at) : s.requested_expiry ? `${fmtTime(s.requested_expiry)} (requested)` : 'never'),
      s.extension_expiry ? [h('dt', 'Extension asked to'), h('dd', fmtTime(s.extension_expiry))] : null,
      s.local_name ? [h('dt', 'Local name'), h('dd', h('code', s.local_name))] : null,
      h('dt', 'Reason'), h('dd', s.reason || '—'),
      s.decision_notes ? [h('dt', 'Approver’s notes'), h('dd', s.decision_notes)] : null,
      s.deleted_reason ? [h('dt', 'Deleted because'), h('dd', s.deleted_reason)] : null,
      h('dt', 'Updated'), h('dd', fmtTime(s.updated_at))),
    table({
      caption: `Items of ${s.product}`,
      columns: [
        { label: 'Item', render: (i) => (i.kind === 'folder' ? `folder ${i.folder || '/'}` : i.kind === 'product' ? 'whole product' : i.table || '—') },
        { label: 'Status', render: (i) => badge(String(i.status).replace(/_/g, ' '), i.status) },
        { label: 'Health', render: (i) => (i.health ? [badge(i.health), i.health_message ? h('span', { class: 'muted' }, ` ${i.health_message}`) : null] : '—') },
      ],
      rows: items,
      empty: 'This request has no items.',
    }),
    mine.length ? h('p', { class: 'hint' }, 'You read: ', mine.flatMap((r) => r.sql_names || []).map((n, k) => [k ? ', ' : '', h('code', n)])) : null,
    actions.length ? h('div', { class: 'actions' }, actions, link(`/shares/${s.id}`, 'Details and history', { class: 'btn link' })) : h('p', link(`/shares/${s.id}`, 'Details and history')),
    status,
  );
}

function actionButton(label, kind, status, fn, describedBy) {
  const b = h('button', { type: 'button', class: ['btn', kind], 'aria-describedby': describedBy }, label);
  b.addEventListener('click', () => act(b, status, fn));
  return b;
}

async function extend(s, rerender) {
  const date = h('input', { type: 'date', name: 'expires_at', min: new Date(Date.now() + 86400000).toISOString().slice(0, 10) });
  const reason = h('textarea', { name: 'reason', rows: '3' });
  const v = await askForm({
    title: `Extend ${s.product}`,
    body: 'The approvers decide; until then the data stays readable until the current expiry.',
    fields: [{ label: 'New expiry date', control: date, required: true }, { label: 'Reason', control: reason, required: true }],
    confirm: 'Ask to extend',
  });
  if (!v) return;
  await post(`shares/${s.id}/extend`, { expires_at: `${v.expires_at}T00:00:00Z`, reason: v.reason });
  toast(`Extension of ${s.product} requested`);
  rerender();
}

async function finalize(s, rerender) {
  const name = h('input', { type: 'text', name: 'local_name', autocomplete: 'off', pattern: '[a-z][a-z0-9_]*' });
  const v = await askForm({
    title: `Finalize ${s.product}`,
    body: `Give the share a local name: its tables then also read as <local name>.<table> in your SQL.`,
    fields: [{ label: 'Local name', control: name, required: true, hint: 'Lowercase letters, digits and _, starting with a letter.' }],
    confirm: 'Finalize',
  });
  if (!v) return;
  await post(`shares/${s.id}/finalize`, { local_name: v.local_name });
  toast(`${s.product} reads also as ${v.local_name}`);
  rerender();
}

async function remove(s, rerender) {
  const reason = await ask({
    title: `Delete the share of ${s.product}?`,
    body: 'The record stays readable with your reason. Shared items must be revoked first — you will be asked.',
    input: 'Reason',
    required: true,
    confirm: 'Delete',
    danger: true,
  });
  if (!reason) return;
  try {
    await del(`shares/${s.id}`, { reason });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409) throw e;
    const force = await ask({
      title: 'Revoke and delete?',
      body: `${e.message}. Deleting now revokes your access to ${s.product} at once.`,
      confirm: 'Revoke access and delete',
      danger: true,
    });
    if (!force) return;
    await del(`shares/${s.id}`, { reason, force: true });
  }
  toast(`The share of ${s.product} is deleted`);
  rerender();
}
