// The catalog parts of the Policy page, for stewards and admins (docs/API.md §Catalog):
// form types and their fields, the domain rules that require forms, glossaries and terms.

import { act, ask, button, checkbox, del, enc, field, fmtTime, get, go, h, mount, post, put, select, split, table, teamOf, toast } from '../lib.js';

/** For non-admins: the server decides who may change these (admins; domain admins for rules). */
const adminNote = (ctx, what) => (ctx.me.isAdmin ? null : h('p', { class: 'warn-box' }, `Changing ${what} needs a mesh admin (or, for a domain's own settings, its admins): the server refuses it otherwise.`));

const FIELD_TYPES = ['string', 'number', 'boolean', 'date', 'enum', 'glossary_term', 'principal'];

// ---- form types

export async function formTypes(ctx) {
  const types = await get('form-types');
  const editArea = h('div');
  return [
    adminNote(ctx, 'form types'),
    h('p', 'Form types describe the metadata forms that products, tables and requests carry. Saving a form type makes a new revision; forms already filled keep theirs.'),
    table({
      caption: 'Form types',
      rows: types,
      empty: 'No form types yet.',
      columns: [
        { label: 'Name', key: 'name' },
        { label: 'Description', render: (t) => t.description || '—' },
        { label: 'Revision', key: 'revision', className: 'num' },
        { label: 'Fields', render: (t) => (t.fields || []).map((f) => `${f.name} (${f.type}${f.required ? ', required' : ''})`).join(', ') || '—' },
        { label: 'Actions', render: (t) => button('Edit', () => mount(editArea, formTypeForm(ctx, t)), { 'aria-label': `Edit form type ${t.name}` }) },
      ],
    }),
    h('div', { class: 'actions' }, button('New form type', () => mount(editArea, formTypeForm(ctx, null)))),
    editArea,
  ];
}

function fieldRow(f, n, rows, redraw) {
  const name = h('input', { type: 'text', value: f.name || '', autocomplete: 'off' });
  const type = select(FIELD_TYPES, f.type || 'string');
  const req = checkbox('Required', { checked: !!f.required });
  const values = h('input', { type: 'text', value: (f.values || []).join(', '), autocomplete: 'off' });
  const glossary = h('input', { type: 'text', value: f.glossary || '', autocomplete: 'off' });
  const description = h('input', { type: 'text', value: f.description || '' });
  const extra = h('div', { class: 'row' });
  const showExtra = () => {
    mount(extra, type.value === 'enum' ? field(`Values of field ${n} (comma-separated)`, values) : null, type.value === 'glossary_term' ? field(`Glossary of field ${n} (optional)`, glossary) : null);
  };
  type.addEventListener('change', showExtra);
  showExtra();
  const node = h(
    'div',
    { class: 'field-row' },
    field(`Name of field ${n}`, name),
    field(`Type of field ${n}`, type),
    field(`Description of field ${n}`, description),
    extra,
    req,
    button('Remove', () => {
      rows.splice(rows.indexOf(row), 1);
      redraw();
    }, { 'aria-label': `Remove field ${n}` }),
  );
  const row = {
    node,
    read: () => {
      const out = { name: name.value.trim(), type: type.value };
      if (req.querySelector('input').checked) out.required = true;
      if (description.value.trim()) out.description = description.value.trim();
      if (type.value === 'enum') out.values = values.value.split(',').map((s) => s.trim()).filter(Boolean);
      if (type.value === 'glossary_term' && glossary.value.trim()) out.glossary = glossary.value.trim();
      return out;
    },
  };
  return row;
}

function formTypeForm(ctx, existing) {
  const name = h('input', { type: 'text', value: existing ? existing.name : '', disabled: !!existing, autocomplete: 'off' });
  const description = h('input', { type: 'text', value: existing ? existing.description || '' : '' });
  const status = h('div', { 'aria-live': 'polite' });
  const list = h('div', { class: 'fields-editor' });
  let fields = (existing ? existing.fields : [{ name: '', type: 'string' }]).map((f) => ({ ...f }));
  const rows = [];
  const redraw = () => {
    fields = rows.map((r) => r.read());
    rows.length = 0;
    fields.forEach((f, i) => rows.push(fieldRow(f, i + 1, rows, redraw)));
    mount(list, rows.length ? rows.map((r) => r.node) : h('p', { class: 'empty' }, 'No fields.'));
  };
  fields.forEach((f, i) => rows.push(fieldRow(f, i + 1, rows, redraw)));
  mount(list, rows.map((r) => r.node));
  const what = existing ? `Edit form type ${existing.name}` : 'New form type';
  const form = h(
    'form',
    {
      class: 'card',
      'aria-label': what,
      on: {
        submit: (e) => {
          e.preventDefault();
          act(form.querySelector('button[type=submit]'), status, async () => {
            const body = { description: description.value.trim() || undefined, fields: rows.map((r) => r.read()) };
            if (existing) await put(`form-types/${enc(existing.name)}`, body);
            else await post('form-types', { name: name.value.trim(), ...body });
            toast(`Saved form type ${existing ? existing.name : name.value.trim()}`);
            ctx.rerender();
          });
        },
      },
    },
    h('h2', what),
    field('Form type name', name, { required: !existing }),
    field('Description', description),
    h('fieldset', h('legend', 'Fields'), list, button('Add field', () => {
      rows.push(fieldRow({ type: 'string' }, rows.length + 1, rows, redraw));
      redraw();
    })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, existing ? 'Save new revision' : 'Create form type')),
    status,
  );
  setTimeout(() => (existing ? description : name).focus(), 0);
  return form;
}

// ---- domain rules

export async function domainRules(ctx, query) {
  const [domains, types] = await Promise.all([get('domains'), get('form-types').catch(() => [])]);
  if (domains.length === 0) return h('p', { class: 'empty' }, 'No domains yet.');
  const names = domains.map((d) => d.name);
  const mine = ctx.me.owns[0] ? split(teamOf(ctx.me.owns[0]))[0] : null;
  const chosen = names.includes(query.get('domain')) ? query.get('domain') : (names.includes(mine) ? mine : names[0]);
  const pick = select(names, chosen);
  const rules = await get(`domains/${enc(chosen)}/rules`);
  const status = h('div', { 'aria-live': 'polite' });
  const action = select([{ value: 'request_access', label: 'Requesting access' }, { value: 'publish_product', label: 'Publishing a product' }], 'request_access');
  const boxes = types.map((t) => checkbox(t.name, { value: t.name }));
  const children = checkbox('Also for the units of this domain', {});
  const description = h('input', { type: 'text' });
  const form = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'rule-new-h',
      on: {
        submit: (e) => {
          e.preventDefault();
          act(form.querySelector('button[type=submit]'), status, async () => {
            const forms = boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
            await post(`domains/${enc(chosen)}/rules`, { action: action.value, forms, include_children: children.querySelector('input').checked, description: description.value.trim() || undefined });
            toast('Rule created');
            ctx.rerender();
          });
        },
      },
    },
    h('h2', { id: 'rule-new-h' }, `New rule for ${chosen}`),
    field('When', action),
    h('fieldset', h('legend', 'Forms required (1 to 5)'), boxes.length ? h('div', { class: 'row' }, boxes) : h('p', { class: 'empty' }, 'Create a form type first.')),
    children,
    field('Description', description),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Create rule')),
    status,
  );
  return [
    adminNote(ctx, 'domain rules'),
    h('form', { class: 'inline-form', on: { submit: (e) => { e.preventDefault(); go('/policy/rules', { domain: pick.value }); } } }, field('Domain', pick), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, 'Show'))),
    table({
      caption: `Rules of ${chosen}`,
      rows: rules,
      empty: `${chosen} has no rules: products publish and requests go in without forms.`,
      columns: [
        { label: 'When', render: (r) => (r.action === 'publish_product' ? 'publishing' : 'requesting access') },
        { label: 'Forms', render: (r) => (r.forms || []).join(', ') },
        { label: 'Units too', render: (r) => (r.include_children ? 'yes' : 'no') },
        { label: 'Description', render: (r) => r.description || '—' },
        { label: 'Origin', render: (r) => (r.inherited ? `inherited from ${r.domain}` : 'this domain') },
        { label: 'Created', render: (r) => fmtTime(r.created_at) },
        {
          label: 'Actions',
          render: (r) => (r.inherited
            ? '—'
            : button('Delete', async (e) => {
              if (!(await ask({ title: 'Delete this rule?', body: `Forms ${(r.forms || []).join(', ')} will no longer be required.`, confirm: 'Delete', danger: true }))) return;
              await act(e.currentTarget, status, async () => {
                await del(`domains/${enc(chosen)}/rules/${enc(r.id)}`);
                toast('Rule deleted');
                ctx.rerender();
              });
            }, { kind: 'danger', 'aria-label': `Delete rule requiring ${(r.forms || []).join(', ')}` })),
        },
      ],
    }),
    form,
  ];
}

// ---- glossaries

export async function glossaries(ctx, query) {
  const list = await get('glossaries');
  const status = h('div', { 'aria-live': 'polite' });
  const chosen = list.find((g) => g.name === query.get('glossary')) || list[0];
  const out = [
    adminNote(ctx, 'glossaries and terms'),
    table({
      caption: 'Glossaries',
      rows: list,
      empty: 'No glossaries yet.',
      columns: [
        { label: 'Name', render: (g) => h('a', { href: `#/policy/glossary?glossary=${encodeURIComponent(g.name)}`, 'aria-current': chosen && g.name === chosen.name ? 'true' : null }, g.name) },
        { label: 'Description', render: (g) => g.description || '—' },
        { label: 'Enabled', render: (g) => (g.enabled === false ? 'no' : 'yes') },
      ],
    }),
    newThing('glossary', 'New glossary', async (name, description) => {
      await post('glossaries', { name, description });
      go('/policy/glossary', { glossary: name });
    }, status),
    status,
  ];
  if (chosen) {
    const terms = await get(`glossaries/${enc(chosen.name)}/terms`);
    out.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'terms-h' },
        h('h2', { id: 'terms-h' }, `Terms of ${chosen.name}`),
        table({
          caption: `Terms of ${chosen.name}`,
          rows: terms,
          empty: 'No terms yet.',
          columns: [
            { label: 'Term', render: (t) => t.term || `${chosen.name}.${t.name}` },
            { label: 'Description', render: (t) => t.description || '—' },
            { label: 'Broader (is a)', render: (t) => (t.is_a || []).join(', ') || '—' },
            { label: 'Enabled', render: (t) => (t.enabled === false ? 'no' : 'yes') },
          ],
        }),
        newThing('term', `New term in ${chosen.name}`, async (name, description) => {
          await post(`glossaries/${enc(chosen.name)}/terms`, { name, description });
          ctx.rerender();
        }, status),
      ),
    );
  }
  return out;
}

/** A small name + description form. */
function newThing(kind, heading, save, status) {
  const name = h('input', { type: 'text', autocomplete: 'off' });
  const description = h('input', { type: 'text' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      'aria-label': heading,
      on: {
        submit: (e) => {
          e.preventDefault();
          act(form.querySelector('button[type=submit]'), status, async () => {
            await save(name.value.trim(), description.value.trim() || undefined);
            toast(`Created ${kind} ${name.value.trim()}`);
          });
        },
      },
    },
    field(`Name of the new ${kind}`, name, { required: true }),
    field(`Description of the new ${kind}`, description),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, `Create ${kind}`)),
  );
  return form;
}
