// Admin views, continued: Delta Sharing recipients (tokens, one-time profile links, IP
// allow-list) and the audit log (filters, paging, CSV export). docs/API.md §Delta Sharing, §Audit.

import { ApiError, act, ask, button, del, download, enc, field, fmtTime, get, go, h, mount, post, put, qs, select, snippet, table, toast } from '../lib.js';

const submit = (label, kind = 'primary') => h('div', { class: 'actions' }, h('button', { type: 'submit', class: ['btn', kind] }, label));

function onSubmit(form, status, fn) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(form.querySelector('button[type=submit]'), status, fn);
  });
  return form;
}

// ---- recipients

export async function recipients(ctx) {
  const all = await get('principals');
  const people = all.filter((p) => p.kind !== 'group');
  const chosen = ctx.query.get('principal') || (people[0] && people[0].name);
  const pick = select(people.map((p) => p.name), chosen);
  const head = h('form', { class: 'inline-form', on: { submit: (e) => { e.preventDefault(); go('/admin/recipients', { principal: pick.value }); } } }, field('Recipient', pick), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, 'Show recipient')));
  if (!chosen) return head;
  const base = `recipients/${enc(chosen)}`;
  const [list, settings] = await Promise.all([get(`${base}/tokens`), get(`${base}/settings`).catch(() => ({ ip_allow_list: [] }))]);
  const status = h('div', { 'aria-live': 'polite' });
  const shown = h('div', { 'aria-live': 'polite' });
  const tName = h('input', { type: 'text', autocomplete: 'off' });
  const kind = select([{ value: 'bearer', label: 'Bearer token' }, { value: 'oauth', label: 'OAuth client credentials' }], 'bearer');
  const days = h('input', { type: 'number', min: '1' });
  const expireOthers = h('input', { type: 'number', min: '0' });
  const create = h('form', { class: 'card', 'aria-labelledby': 'rt-new-h' },
    h('h3', { id: 'rt-new-h' }, `New Delta Sharing token for ${chosen}`),
    h('div', { class: 'inline-form' }, field('Token name', tName), field('Kind', kind), field('Expires in days (empty: never)', days), field('Expire the other tokens in seconds (optional)', expireOthers, { hint: 'For a rotation: the old tokens keep working this long.' })),
    submit('Create recipient token'),
    shown,
  );
  onSubmit(create, shown, async () => {
    const body = { name: tName.value.trim() || undefined, kind: kind.value };
    if (days.value) body.expires_in_days = Number(days.value);
    if (expireOthers.value) body.expire_existing_in_secs = Number(expireOthers.value);
    const res = await post(`${base}/tokens`, body);
    const url = new URL(res.profile_url, location.origin).href;
    mount(
      shown,
      h('div', { class: 'warn-box', role: 'alert' }, 'Send this link to the recipient now: it downloads their profile (with the token) once, and is shown only here.'),
      snippet(`Profile link for ${chosen}`, url),
      res.expired_others ? h('p', { class: 'muted' }, `${res.expired_others} other token(s) will expire.`) : null,
    );
  });
  const ips = h('textarea', { rows: '4', class: 'code', value: (settings.ip_allow_list || []).join('\n'), spellcheck: 'false' });
  const ipStatus = h('div', { 'aria-live': 'polite' });
  const ipForm = onSubmit(h('form', { class: 'card', 'aria-labelledby': 'ip-h' },
    h('h3', { id: 'ip-h' }, 'IP allow-list'),
    field(`Addresses allowed for ${chosen}`, ips, { hint: 'One address or CIDR range a line, e.g. 203.0.113.7 or 10.0.0.0/8. Empty: any address.' }),
    submit('Save allow-list'),
    ipStatus,
  ), ipStatus, async () => {
    const list2 = ips.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
    await put(`${base}/settings`, { ip_allow_list: list2 });
    toast('Allow-list saved');
  });
  return [
    head,
    h('h2', `Delta Sharing tokens of ${chosen}`),
    table({
      caption: `Delta Sharing tokens of ${chosen}`,
      rows: list,
      empty: `${chosen} has no Delta Sharing tokens.`,
      columns: [
        { label: 'Name', render: (t) => t.name || '—' },
        { label: 'Kind', key: 'kind' },
        { label: 'Created', render: (t) => fmtTime(t.created_at) },
        { label: 'Expires', render: (t) => (t.expires_at ? fmtTime(t.expires_at) : 'never') },
        { label: 'Profile downloaded', render: (t) => (t.awaiting_download ? 'not yet' : fmtTime(t.activated_at)) },
        { label: 'Last used', render: (t) => fmtTime(t.last_used_at) },
        { label: 'Usable', render: (t) => (t.usable ? 'yes' : 'no') },
        {
          label: 'Actions',
          render: (t) => (t.revoked_at ? `revoked ${fmtTime(t.revoked_at)}` : button('Revoke', async (e) => {
            if (!(await ask({ title: `Revoke the token ${t.name || t.id}?`, body: 'The recipient loses access through it at once.', confirm: 'Revoke token', danger: true }))) return;
            await act(e.currentTarget, status, async () => {
              await del(`${base}/tokens/${enc(t.id)}`);
              toast('Recipient token revoked');
              ctx.rerender();
            });
          }, { kind: 'danger', 'aria-label': `Revoke recipient token ${t.name || t.id}` })),
        },
      ],
    }),
    status,
    create,
    ipForm,
  ];
}

// ---- audit log

const PAGE = 100;

/** A datetime-local value as RFC 3339 (in UTC), or undefined. */
const rfc3339 = (v) => (v ? new Date(v).toISOString() : undefined);

function detailText(d) {
  if (d === null || d === undefined) return '';
  if (typeof d !== 'object') return String(d);
  return Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
}

const CSV_COLUMNS = ['seq', 'at', 'actor', 'action', 'object_type', 'object_id', 'outcome', 'request_id', 'detail'];

function csvCell(v) {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function toCsv(events) {
  return [CSV_COLUMNS.join(','), ...events.map((e) => CSV_COLUMNS.map((c) => csvCell(e[c])).join(','))].join('\n') + '\n';
}

/** Fetches events; if this server does not take from/to yet, filters by time here. */
async function fetchAudit(filters, after, limit) {
  const q = { ...filters, after, limit };
  try {
    return { events: await get(`audit${qs(q)}`), local: false };
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 400 && (filters.from || filters.to))) throw e;
    const { from, to, ...rest } = q;
    const events = await get(`audit${qs(rest)}`);
    const f = from ? Date.parse(from) : -Infinity;
    const t = to ? Date.parse(to) : Infinity;
    return { events: events.filter((x) => Date.parse(x.at) >= f && Date.parse(x.at) <= t), local: true, last: events.length ? events[events.length - 1].seq : null, full: events.length };
  }
}

export async function audit(ctx) {
  const q = ctx.query;
  const filters = { actor: q.get('actor') || '', action: q.get('action') || '', object: q.get('object') || '', from: q.get('from') || '', to: q.get('to') || '' };
  const after = q.get('after') || '';
  const input = (v) => h('input', { type: 'text', value: v, autocomplete: 'off' });
  const actor = input(filters.actor);
  const action = input(filters.action);
  const object = input(filters.object);
  const toLocal = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  };
  const from = h('input', { type: 'datetime-local', value: toLocal(filters.from) });
  const to = h('input', { type: 'datetime-local', value: toLocal(filters.to) });
  const form = h('form', {
    class: 'card',
    'aria-labelledby': 'audit-f-h',
    on: {
      submit: (e) => {
        e.preventDefault();
        go('/admin/audit', { actor: actor.value.trim(), action: action.value.trim(), object: object.value.trim(), from: rfc3339(from.value), to: rfc3339(to.value) });
      },
    },
  },
  h('h2', { id: 'audit-f-h' }, 'Filter events'),
  h('div', { class: 'inline-form' },
    field('Who (actor name)', actor),
    field('Action prefix', action, { hint: 'e.g. share. or query.run' }),
    field('Object id', object),
    field('From', from),
    field('To', to)),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Show events'), h('a', { class: 'btn', href: '#/admin/audit' }, 'Clear filters')));

  const res = await fetchAudit(filters, after, PAGE);
  const events = res.events;
  const lastSeq = res.local ? res.last : events.length ? events[events.length - 1].seq : null;
  const more = res.local ? res.full === PAGE : events.length === PAGE;
  const status = h('div', { 'aria-live': 'polite' });

  const exportCsv = button('Export CSV', (e) =>
    act(e.currentTarget, status, async () => {
      let text = null;
      try {
        const r = await get(`audit${qs({ ...filters, format: 'csv' })}`, { accept: 'text/csv', response: true });
        if ((r.headers.get('content-type') || '').includes('csv')) text = await r.text();
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 400)) throw err;
      }
      if (text === null) {
        // This server does not export CSV yet: page through the JSON and build it here.
        const all = [];
        let cursor;
        for (let i = 0; i < 100; i += 1) {
          const page = await fetchAudit(filters, cursor, 1000);
          all.push(...page.events);
          const full = page.local ? page.full : page.events.length;
          if (full < 1000) break;
          cursor = page.local ? page.last : page.events[page.events.length - 1].seq;
        }
        text = toCsv(all);
      }
      download(`meshgate-audit-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '')}.csv`, text, 'text/csv');
    }),
  );

  const pager = h('nav', { class: 'pager', 'aria-label': 'Audit pages' },
    after ? h('a', { class: 'btn', href: `#/admin/audit${qs(filters)}` }, 'First page') : null,
    more && lastSeq !== null ? h('a', { class: 'btn', href: `#/admin/audit${qs({ ...filters, after: lastSeq })}` }, 'Next page') : null,
    h('span', { class: 'muted' }, events.length ? `Events ${events[0].seq}–${events[events.length - 1].seq}, oldest first` : ''));

  return [
    form,
    res.local ? h('p', { class: 'warn-box' }, 'This server does not filter by time yet: the page shows the events of this page that fall in the range.') : null,
    h('h2', 'Events'),
    h('div', { class: 'actions' }, exportCsv),
    status,
    table({
      caption: 'Audit events',
      rows: events,
      empty: 'No events match.',
      columns: [
        { label: 'Seq', key: 'seq', className: 'num' },
        { label: 'At', render: (e) => fmtTime(e.at) },
        { label: 'Actor', render: (e) => e.actor || 'system' },
        { label: 'Action', render: (e) => h('code', e.action) },
        { label: 'Object', render: (e) => [e.object_type, e.object_id ? h('br') : null, e.object_id ? h('code', e.object_id) : null] },
        { label: 'Outcome', render: (e) => e.outcome },
        { label: 'Detail', className: 'detail', render: (e) => detailText(e.detail) },
      ],
    }),
    pager,
  ];
}
