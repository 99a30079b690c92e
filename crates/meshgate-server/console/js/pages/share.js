// One share (#/shares/{id}): who asked for what and why, its items and their health, the
// decision, and its processing log. Approvers of the product decide here (approve.js), verify,
// re-apply, revoke and decide extensions; requesters see it read-only (docs/design/LIFECYCLE.md).

import { act, ask, badge, button, enc, fmt, fmtTime, get, h, link, post, split, table, teamOf, title, toast } from '../lib.js';
import approvalForm from './approve.js';

const SHARED = new Set(['share_succeeded', 'share_in_progress', 'revoke_failed', 'revoke_in_progress', 'revoke_approved', 'pending_extension']);
const REVOKABLE = new Set(['share_succeeded', 'revoke_failed']);

function dl(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => [h('dt', k), h('dd', v)]),
  );
}

function itemName(i) {
  if (i.kind === 'table') return i.table || '—';
  if (i.kind === 'folder') return `${i.folder || ''} (folder)`;
  return 'whole product';
}

function scopeText(scope, names = new Map()) {
  if (!scope || typeof scope !== 'object') return null;
  const parts = [];
  if (scope.data_filters && scope.data_filters.length) parts.push(`filter ${scope.data_filters.map((x) => names.get(x) || (/^[0-9a-f-]{36}$/.test(x) ? 'a data filter' : x)).join(', ')}`);
  if (scope.columns && scope.columns.length) parts.push(`columns ${scope.columns.join(', ')}`);
  if (scope.masks && Object.keys(scope.masks).length) parts.push(`masks ${Object.entries(scope.masks).map(([c, m]) => `${c}: ${m}`).join(', ')}`);
  return parts.length ? parts.join('; ') : null;
}

export default async function sharePage(ctx) {
  const { me } = ctx;
  const id = ctx.parts[0];
  if (!id) return [title('Share'), h('p', 'No share given. ', link('/inbox', 'Go to Approvals.'))];
  const share = await get(`shares/${enc(id)}`);
  const [d, p] = split(share.product);
  const [forms, logs, product] = await Promise.all([
    get(`shares/${enc(id)}/forms`).catch(() => []),
    get(`shares/${enc(id)}/logs?limit=200`).catch(() => []),
    get(`products/${enc(d)}/${enc(p)}`).catch(() => null),
  ]);
  const productTeam = product ? `${product.domain}.${product.team}` : null;
  const myTeams = new Set((me.teams || []).map(teamOf));
  const approver = me.isAdmin || me.owns.some((t) => teamOf(t) === productTeam);
  const requester = myTeams.has(share.requester_team) || share.requester_principal === me.principal.name;
  // Grants name their data filters by id: show the names.
  const filterNames = new Map();
  const scoped = !approver ? [] : [...new Set((share.items || []).filter((i) => i.kind === 'table' && i.scope && (i.scope.data_filters || []).length).map((i) => i.table))];
  const lists = await Promise.all(scoped.map((t) => get(`products/${enc(d)}/${enc(p)}/tables/${enc(t)}/data-filters`).catch(() => [])));
  lists.flat().forEach((f) => filterNames.set(f.id, f.name));
  const status = h('div', { 'aria-live': 'polite' });
  const reload = () => ctx.rerender();
  const items = share.items || [];

  const out = [
    title(`Share of ${share.product}`, ' ', badge(share.status)),
    status,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'about-h' },
      h('h2', { id: 'about-h' }, 'Request'),
      dl([
        ['Product', link(`/products/${enc(d)}/${enc(p)}`, share.product)],
        ['Requester', [share.requester_team || '—', share.requester_principal ? ` (${share.requester_principal})` : '']],
        ['Created by', share.created_by],
        ['Reason', share.reason || '—'],
        ['Requested expiry', fmtTime(share.requested_expiry)],
        ['Expires', share.expires_at ? fmtTime(share.expires_at) : null],
        ['Extension asked until', share.extension_expiry ? fmtTime(share.extension_expiry) : null],
        ['Extension reason', share.extension_reason],
        ['Decision notes', share.decision_notes],
        ['Decided by', share.decided_by],
        ['Local name', share.local_name],
        ['Deleted because', share.deleted_reason],
        ['Created', fmtTime(share.created_at)],
        ['Updated', fmtTime(share.updated_at)],
      ]),
      h('h3', 'Forms'),
      forms.length
        ? h('ul', forms.map((f) => h('li', h('strong', f.form), ': ', Object.entries(f.values || {}).map(([k, v]) => `${k} = ${fmt(v)}`).join('; '))))
        : h('p', { class: 'empty' }, 'No forms with this request.'),
    ),
    h(
      'section',
      { 'aria-labelledby': 'items-h' },
      h('h2', { id: 'items-h' }, 'Items'),
      table({
        caption: `Items of the share of ${share.product}`,
        rows: items,
        empty: 'This share has no items.',
        columns: [
          { label: 'Kind', key: 'kind' },
          { label: 'Table or folder', render: itemName },
          { label: 'Status', render: (i) => badge(i.status) },
          { label: 'Granted', render: (i) => scopeText(i.scope, filterNames) || (SHARED.has(i.status) ? 'as requested' : '—') },
          { label: 'Health', render: (i) => (i.health ? badge(i.health) : '—') },
          { label: 'Health message', render: (i) => i.health_message || '—' },
          { label: 'Last verified', render: (i) => fmtTime(i.last_verified_at) },
        ],
      }),
    ),
  ];

  if (approver && share.status === 'submitted' && items.some((i) => i.status === 'pending_approval')) {
    if (requester) {
      out.push(
        h('p', { class: 'card' }, 'You are in the requesting team, so another approver must approve (separation of duties). You may still reject it.'),
        h('div', { class: 'actions' }, button('Reject', async (e) => {
          const notes = await ask({ title: `Reject the request for ${share.product}`, input: 'Notes for the requester', confirm: 'Reject', danger: true });
          if (notes === null) return;
          await act(e.currentTarget, status, async () => {
            await post(`shares/${enc(id)}/reject`, { notes: notes || undefined });
            reload();
          });
        }, { kind: 'danger' })),
      );
    } else {
      out.push(await approvalForm({ share, product: product || { tables: [] }, onDone: reload }));
    }
  }

  if (approver && share.status === 'submitted_for_extension') {
    out.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'ext-h' },
        h('h2', { id: 'ext-h' }, 'Extension request'),
        h('p', `Asked to extend until ${fmtTime(share.extension_expiry)}: ${share.extension_reason || 'no reason given'}.`),
        h(
          'div',
          { class: 'actions' },
          button('Approve extension', (e) => act(e.currentTarget, status, async () => {
            await post(`shares/${enc(id)}/extension/approve`, {});
            toast('Extension approved');
            reload();
          }), { kind: 'primary' }),
          button('Reject extension', async (e) => {
            const notes = await ask({ title: 'Reject the extension', input: 'Notes for the requester', confirm: 'Reject extension', danger: true });
            if (notes === null) return;
            await act(e.currentTarget, status, async () => {
              await post(`shares/${enc(id)}/extension/reject`, { notes: notes || undefined });
              toast('Extension rejected');
              reload();
            });
          }, { kind: 'danger' }),
        ),
      ),
    );
  }

  if (approver && items.some((i) => SHARED.has(i.status))) {
    const revokable = items.some((i) => REVOKABLE.has(i.status));
    out.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'run-h' },
        h('h2', { id: 'run-h' }, 'Shared items'),
        h('p', 'Verify compares what each item should give with the grants in force. Reapply re-makes the grants of unhealthy items.'),
        h(
          'div',
          { class: 'actions' },
          button('Verify', (e) => act(e.currentTarget, status, async () => {
            await post(`shares/${enc(id)}/verify`, { wait: true });
            toast('Verified');
            reload();
          })),
          button('Reapply', (e) => act(e.currentTarget, status, async () => {
            await post(`shares/${enc(id)}/reapply`, { wait: true });
            toast('Grants re-applied');
            reload();
          })),
          revokable
            ? button('Revoke', async (e) => {
              const ok = await ask({
                title: `Revoke the share of ${share.product}?`,
                body: `${share.requester_team || share.requester_principal} loses access to every shared item at once. This cannot be undone; they would have to ask again.`,
                confirm: 'Revoke access',
                danger: true,
              });
              if (!ok) return;
              await act(e.currentTarget, status, async () => {
                await post(`shares/${enc(id)}/revoke`, { wait: true });
                toast('Revoked');
                reload();
              });
            }, { kind: 'danger' })
            : null,
        ),
      ),
    );
  }

  if (requester && !approver) {
    out.push(h('p', { class: 'muted' }, 'This is your team\'s request. Manage it on ', link('/access', 'My access'), '.'));
  }

  out.push(
    h(
      'section',
      { 'aria-labelledby': 'log-h' },
      h('h2', { id: 'log-h' }, 'Log'),
      table({
        caption: 'What each processing run did',
        rows: logs,
        empty: 'No processing run yet.',
        columns: [
          { label: 'Time', render: (l) => fmtTime(l.at) },
          { label: 'Job', key: 'job' },
          { label: 'Level', render: (l) => badge(l.level) },
          { label: 'Message', key: 'message' },
        ],
      }),
    ),
  );
  return out;
}
