// Admin (#/admin, #/admin/<tab>): domains, teams and their members; principals and groups;
// API tokens; Delta Sharing recipients and the audit log (admin-more.js). Mesh admins only —
// the API refuses everyone else anyway (docs/API.md §Identity, §Domains and teams).

import { act, ask, button, checkbox, del, enc, errorText, field, fmtTime, get, go, h, link, mount, post, put, select, snippet, subnav, table, title, toast } from '../lib.js';
import { audit, recipients } from './admin-more.js';

const TABS = [
  { path: '/admin/domains', label: 'Domains & teams' },
  { path: '/admin/principals', label: 'Principals' },
  { path: '/admin/tokens', label: 'API tokens' },
  { path: '/admin/recipients', label: 'Delta Sharing recipients' },
  { path: '/admin/audit', label: 'Audit log' },
];

export default async function admin(ctx) {
  const heading = title('Admin');
  if (!ctx.me.isAdmin) {
    return [heading, h('p', { class: 'error', role: 'alert' }, 'This page is for mesh admins only. Ask an admin if you need a domain, a team, a principal or a token.')];
  }
  const tab = ctx.parts[0] || 'domains';
  const nav = subnav('Admin views', TABS, `/admin/${tab}`);
  const views = { domains, principals, tokens, recipients, audit };
  if (!views[tab]) return [heading, nav, h('p', 'This view does not exist.')];
  return [heading, nav, await views[tab](ctx)];
}

/** A form that runs `fn` with act() on submit. */
export function actForm(props, children, fn) {
  const status = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    ...props,
    on: {
      submit: (e) => {
        e.preventDefault();
        act(form.querySelector('button[type=submit]'), status, () => fn(form));
      },
    },
  }, children, status);
  return form;
}

const submit = (label, kind = 'primary') => h('div', { class: 'actions' }, h('button', { type: 'submit', class: ['btn', kind] }, label));

const names = (list) => list.map((p) => ({ value: p.name, label: p.display_name && p.display_name !== p.name ? `${p.name} (${p.display_name})` : p.name }));

// ---- domains & teams

async function domains(ctx) {
  const q = ctx.query;
  const list = await get('domains');
  const chosen = list.find((d) => d.name === q.get('domain'));
  const parentOf = new Map(list.map((d) => [d.id, d.name]));
  const dName = h('input', { type: 'text', autocomplete: 'off' });
  const dDesc = h('input', { type: 'text' });
  const dParent = select([{ value: '', label: 'none (top level)' }, ...list.map((d) => d.name)], '');
  const out = [
    h('h2', 'Domains'),
    table({
      caption: 'Domains',
      rows: list,
      empty: 'No domains yet.',
      columns: [
        { label: 'Name', render: (d) => link(`/admin/domains?domain=${enc(d.name)}`, d.name, { 'aria-current': chosen && chosen.name === d.name ? 'true' : null }) },
        { label: 'Description', render: (d) => d.description || '—' },
        { label: 'Parent', render: (d) => (d.parent_id ? parentOf.get(d.parent_id) || '—' : '—') },
        { label: 'Produces', render: (d) => (d.producer ? 'yes' : 'no') },
        { label: 'Consumes', render: (d) => (d.consumer ? 'yes' : 'no') },
      ],
    }),
    actForm({ class: 'card', 'aria-labelledby': 'new-domain-h' }, [
      h('h3', { id: 'new-domain-h' }, 'New domain'),
      h('div', { class: 'inline-form' }, field('Domain name', dName, { required: true }), field('Domain description', dDesc), field('Parent domain', dParent)),
      submit('Create domain'),
    ], async () => {
      await post('domains', { name: dName.value.trim(), description: dDesc.value.trim() || undefined, parent: dParent.value || undefined });
      toast(`Domain ${dName.value.trim()} created`);
      go('/admin/domains', { domain: dName.value.trim() });
    }),
  ];
  if (chosen) out.push(await teams(ctx, chosen.name));
  else out.push(h('p', { class: 'muted' }, 'Choose a domain to see its teams.'));
  return out;
}

async function teams(ctx, d) {
  const list = await get(`domains/${enc(d)}/teams`);
  const chosen = list.find((t) => t.name === ctx.query.get('team'));
  const tName = h('input', { type: 'text', autocomplete: 'off' });
  const tDesc = h('input', { type: 'text' });
  const out = [
    h('h2', `Teams of ${d}`),
    table({
      caption: `Teams of ${d}`,
      rows: list,
      empty: `${d} has no teams yet.`,
      columns: [
        { label: 'Name', render: (t) => link(`/admin/domains?domain=${enc(d)}&team=${enc(t.name)}`, t.name, { 'aria-current': chosen && chosen.name === t.name ? 'true' : null }) },
        { label: 'Description', render: (t) => t.description || '—' },
        { label: 'Created', render: (t) => fmtTime(t.created_at) },
      ],
    }),
    actForm({ class: 'card', 'aria-labelledby': 'new-team-h' }, [
      h('h3', { id: 'new-team-h' }, `New team in ${d}`),
      h('div', { class: 'inline-form' }, field('Team name', tName, { required: true }), field('Team description', tDesc)),
      submit('Create team'),
    ], async () => {
      await post(`domains/${enc(d)}/teams`, { name: tName.value.trim(), description: tDesc.value.trim() || undefined });
      toast(`Team ${d}.${tName.value.trim()} created`);
      go('/admin/domains', { domain: d, team: tName.value.trim() });
    }),
  ];
  if (chosen) out.push(await members(ctx, d, chosen.name));
  return out;
}

async function members(ctx, d, t) {
  const url = `domains/${enc(d)}/teams/${enc(t)}/members`;
  const [list, principals] = await Promise.all([get(url), get('principals').catch(() => [])]);
  const status = h('div', { 'aria-live': 'polite' });
  const who = select(names(principals), '');
  const role = select(['member', 'steward', 'owner'], 'member');
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'members-h' },
    h('h2', { id: 'members-h' }, `Members of ${d}.${t}`),
    table({
      caption: `Members of ${d}.${t}`,
      rows: list,
      empty: 'No members yet.',
      columns: [
        { label: 'Principal', key: 'principal' },
        {
          label: 'Role',
          render: (m) => {
            const sel = select(['member', 'steward', 'owner'], m.role, { 'aria-label': `Role of ${m.principal}` });
            return h('div', { class: 'row' }, sel, button('Save role', (e) => act(e.currentTarget, status, async () => {
              await put(`${url}/${enc(m.principal)}`, { role: sel.value });
              toast(`${m.principal} is now ${sel.value} of ${d}.${t}`);
            }), { 'aria-label': `Save role of ${m.principal}` }));
          },
        },
        {
          label: 'Actions',
          render: (m) => button('Remove', async (e) => {
            if (!(await ask({ title: `Remove ${m.principal} from ${d}.${t}?`, body: 'They lose what the team gives them at once.', confirm: 'Remove', danger: true }))) return;
            await act(e.currentTarget, status, async () => {
              await del(`${url}/${enc(m.principal)}`);
              ctx.rerender();
            });
          }, { kind: 'danger', 'aria-label': `Remove ${m.principal}` }),
        },
      ],
    }),
    status,
    actForm({ 'aria-label': `Add a member to ${d}.${t}` }, [
      h('div', { class: 'inline-form' }, field('Principal to add', who), field('Role', role)),
      submit('Add member', ''),
    ], async () => {
      await put(`${url}/${enc(who.value)}`, { role: role.value });
      toast(`${who.value} added`);
      ctx.rerender();
    }),
  );
}

// ---- principals

async function principals(ctx) {
  const list = await get('principals');
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const kind = select(['user', 'group', 'service'], 'user');
  const display = h('input', { type: 'text' });
  const login = h('input', { type: 'text', autocomplete: 'off' });
  const isAdmin = checkbox('Mesh admin', {});
  const groups = list.filter((p) => p.kind === 'group');
  const group = select(names(groups), '');
  const member = select(names(list), '');
  const groupOp = (method) => async (form) => {
    if (!group.value) throw new Error('Create a group first');
    await (method === 'put' ? put : del)(`principals/${enc(group.value)}/members/${enc(member.value)}`, method === 'put' ? {} : undefined);
    toast(method === 'put' ? `${member.value} added to ${group.value}` : `${member.value} removed from ${group.value}`);
    await showMembers();
    return form;
  };
  const current = h('p', { class: 'muted', 'aria-live': 'polite' });
  async function showMembers() {
    if (!group.value) {
      mount(current, 'There is no group yet: create a principal of kind group first.');
      return;
    }
    try {
      const members = await get(`principals/${enc(group.value)}/members`);
      mount(current, members.length ? `Members of ${group.value}: ${members.map((m) => m.name).join(', ')}` : `${group.value} has no members yet.`);
    } catch (e) {
      mount(current, errorText(e));
    }
  }
  group.addEventListener('change', showMembers);
  showMembers();
  const removeBtn = button('Remove from group', null, { kind: 'danger' });
  const groupForm = actForm({ class: 'card', 'aria-labelledby': 'group-h' }, [
    h('h2', { id: 'group-h' }, 'Group members'),
    current,
    h('div', { class: 'inline-form' }, field('Group', group), field('Member', member)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Add to group'), removeBtn),
  ], groupOp('put'));
  removeBtn.addEventListener('click', async () => {
    if (!(await ask({ title: `Remove ${member.value} from ${group.value}?`, confirm: 'Remove', danger: true }))) return;
    act(removeBtn, groupForm.lastElementChild, () => groupOp('del')());
  });
  return [
    h('h2', 'Principals'),
    table({
      caption: 'Principals',
      rows: list,
      columns: [
        { label: 'Name', key: 'name' },
        { label: 'Kind', key: 'kind' },
        { label: 'Display name', render: (p) => p.display_name || '—' },
        { label: 'Admin', render: (p) => (p.is_admin ? 'yes' : 'no') },
        { label: 'Active', render: (p) => (p.active === false ? 'no' : 'yes') },
        { label: 'Created', render: (p) => fmtTime(p.created_at) },
        { label: 'Tokens', render: (p) => (p.kind === 'group' ? '—' : link(`/admin/tokens?principal=${enc(p.name)}`, 'Tokens', { 'aria-label': `Tokens of ${p.name}` })) },
      ],
    }),
    actForm({ class: 'card', 'aria-labelledby': 'new-p-h' }, [
      h('h2', { id: 'new-p-h' }, 'New principal'),
      h('div', { class: 'inline-form' }, field('Principal name', name, { required: true }), field('Kind', kind), field('Display name', display), field('Login at the identity provider (optional)', login)),
      isAdmin,
      submit('Create principal'),
    ], async () => {
      await post('principals', { name: name.value.trim(), kind: kind.value, display_name: display.value.trim() || undefined, login: login.value.trim() || undefined, admin: isAdmin.querySelector('input').checked || undefined });
      toast(`${kind.value} ${name.value.trim()} created`);
      ctx.rerender();
    }),
    groupForm,
  ];
}

// ---- API tokens

async function tokens(ctx) {
  const all = await get('principals');
  const people = all.filter((p) => p.kind !== 'group');
  const chosen = ctx.query.get('principal') || ctx.me.principal.name;
  const pick = select(names(people), chosen);
  const list = await get(`tokens?principal=${enc(chosen)}`);
  const status = h('div', { 'aria-live': 'polite' });
  const shown = h('div', { 'aria-live': 'polite' });
  const tName = h('input', { type: 'text', autocomplete: 'off' });
  const days = h('input', { type: 'number', min: '0', value: '90' });
  const scope = select([{ value: 'api', label: 'API' }, { value: 'scim', label: 'SCIM provisioning' }], 'api');
  return [
    h('form', { class: 'inline-form', on: { submit: (e) => { e.preventDefault(); go('/admin/tokens', { principal: pick.value }); } } }, field('Principal', pick), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, 'Show tokens'))),
    h('h2', `API tokens of ${chosen}`),
    table({
      caption: `API tokens of ${chosen}`,
      rows: list,
      empty: `${chosen} has no API tokens.`,
      columns: [
        { label: 'Name', render: (t) => t.name || '—' },
        { label: 'Scope', render: (t) => t.scope || 'api' },
        { label: 'Created', render: (t) => fmtTime(t.created_at) },
        { label: 'Expires', render: (t) => (t.expires_at ? fmtTime(t.expires_at) : 'never') },
        { label: 'Last used', render: (t) => fmtTime(t.last_used_at) },
        { label: 'Revoked', render: (t) => fmtTime(t.revoked_at) },
        {
          label: 'Actions',
          render: (t) => (t.revoked_at ? '—' : button('Revoke', async (e) => {
            if (!(await ask({ title: `Revoke the token ${t.name || t.id}?`, body: 'Everything using it is signed out at once.', confirm: 'Revoke token', danger: true }))) return;
            await act(e.currentTarget, status, async () => {
              await del(`tokens/${enc(t.id)}`);
              toast('Token revoked');
              ctx.rerender();
            });
          }, { kind: 'danger', 'aria-label': `Revoke token ${t.name || t.id}` })),
        },
      ],
    }),
    status,
    actForm({ class: 'card', 'aria-labelledby': 'new-token-h' }, [
      h('h2', { id: 'new-token-h' }, `New API token for ${chosen}`),
      h('div', { class: 'inline-form' }, field('Token name', tName), field('Expires in days (0 = never)', days), field('Scope', scope)),
      submit('Create token'),
      shown,
    ], async () => {
      const res = await post('tokens', { principal: chosen, name: tName.value.trim() || undefined, expires_in_days: Number(days.value || 90), scope: scope.value });
      mount(
        shown,
        h('div', { class: 'warn-box', role: 'alert' }, 'Copy this token now: it is shown only once and cannot be read again. Treat it like a password.'),
        snippet(`API token for ${res.principal}`, res.token),
        h('p', { class: 'muted' }, `Expires ${res.expires_at ? fmtTime(res.expires_at) : 'never'}. It disappears from this page when you leave it.`),
      );
      tName.value = '';
    }),
  ];
}
