// Approvals (#/inbox?product=d.p): the requests waiting for my decision, and the shares of the
// products my teams own or steward, with their health (docs/design/CONSOLE.md).

import { badge, enc, fmtTime, get, getAll, h, link, qs, split, table, teamOf, title } from '../lib.js';

export default async function inbox(ctx) {
  const { me, query } = ctx;
  const only = query.get('product') || '';
  const heading = title('Approvals');
  if (!me.isApprover) {
    return [heading, h('p', 'Approvals are for owners and stewards of a team, and for mesh admins. ', link('/access', 'See your own access.'))];
  }

  const pending = (await get(`shares${qs({ pending_for_me: true, product: only })}`)) || [];
  const forms = await getAll(pending.map((s) => `shares/${enc(s.id)}/forms`), []);
  pending.forEach((s, i) => {
    s.forms = forms[i] || [];
  });

  const mine = await myShares(me, only);

  return [
    heading,
    only ? h('p', 'Showing ', h('strong', only), ' only. ', link('/inbox', 'Show every product')) : null,
    h('section', { 'aria-labelledby': 'pending-h' }, h('h2', { id: 'pending-h' }, `Pending requests (${pending.length})`), pendingTable(pending)),
    h('section', { 'aria-labelledby': 'mine-h' }, h('h2', { id: 'mine-h' }, mine.heading), sharesTable(mine.shares)),
  ];
}

/** Every share of the products of my teams (admins without teams: every share they see). */
async function myShares(me, only) {
  if (only) {
    return { heading: `Shares of ${only}`, shares: await get(`shares${qs({ product: only })}`) };
  }
  if (me.owns.length === 0) {
    return { heading: 'All shares', shares: me.isAdmin ? await get('shares') : [] };
  }
  const lists = await getAll(me.owns.map((t) => { const [domain, team] = split(teamOf(t)); return `products${qs({ domain, team })}`; }), []);
  const names = [...new Set(lists.flat().map((p) => `${p.domain}.${p.name}`))].sort();
  const shares = (await getAll(names.map((n) => `shares${qs({ product: n })}`), [])).flat();
  return { heading: 'Shares of my products', shares };
}

function formsText(forms) {
  if (!forms || forms.length === 0) return '—';
  return h(
    'ul',
    { class: 'plain' },
    forms.map((f) =>
      h(
        'li',
        h('strong', f.form),
        ': ',
        Object.entries(f.values || {})
          .map(([k, v]) => `${k} = ${typeof v === 'object' ? JSON.stringify(v) : v}`)
          .join('; '),
      ),
    ),
  );
}

function pendingTable(rows) {
  return table({
    caption: 'Requests waiting for your decision',
    empty: 'No request is waiting for you.',
    rows,
    columns: [
      { label: 'Product', render: (s) => link(`/products/${s.product.replace('.', '/')}`, s.product) },
      { label: 'Requester', render: (s) => [s.requester_team || '—', h('br'), h('span', { class: 'muted' }, s.requester_principal || s.created_by || '')] },
      { label: 'Reason', render: (s) => s.reason || '—' },
      { label: 'Forms', render: (s) => formsText(s.forms) },
      { label: 'Requested expiry', render: (s) => fmtTime(s.requested_expiry) },
      { label: 'Submitted', render: (s) => fmtTime(s.submitted_at || s.created_at) },
      { label: 'Action', render: (s) => link(`/shares/${s.id}`, 'Review', { class: 'btn primary', 'aria-label': `Review the request of ${s.requester_team || s.requester_principal} for ${s.product}` }) },
    ],
  });
}

/** The items' health in a few words: "2 healthy, 1 unhealthy". */
export function healthSummary(items) {
  const counts = {};
  for (const it of items || []) {
    const k = it.health || (it.status === 'share_succeeded' ? 'not verified' : null);
    if (k) counts[k] = (counts[k] || 0) + 1;
  }
  const parts = Object.entries(counts).map(([k, n]) => badge(`${n} ${k}`, k === 'not verified' ? '' : k));
  return parts.length ? h('span', { class: 'tags' }, parts) : '—';
}

function sharesTable(rows) {
  const sorted = [...rows].sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)));
  return table({
    caption: 'Shares',
    empty: 'No share of your products yet.',
    rows: sorted,
    columns: [
      { label: 'Product', key: 'product' },
      { label: 'Requester', render: (s) => s.requester_team || s.requester_principal || '—' },
      { label: 'Status', render: (s) => badge(s.status) },
      { label: 'Health', render: (s) => healthSummary(s.items) },
      { label: 'Expires', render: (s) => fmtTime(s.expires_at || s.requested_expiry) },
      { label: 'Share', render: (s) => link(`/shares/${s.id}`, 'Open', { 'aria-label': `Open the share of ${s.product} with ${s.requester_team || s.requester_principal}` }) },
    ],
  });
}
