// Policy (#/policy, #/policy/<view>?product=d.p): what owners and stewards set on their
// products — data filters, column tags, tag masks, row rules (rules.js) — and, for stewards and
// admins, the catalog's form types, domain rules and glossaries (policy-catalog.js).
// docs/design/ACCESS.md, docs/API.md §Fine-grained access and §Catalog.

import { act, ApiError, ask, button, checkbox, del, enc, field, fieldError, fmt, fmtTime, get, getAll, go, h, link, mount, post, put, qs, select, split, subnav, table, teamOf, title, toast } from '../lib.js';
import { domainRules, formTypes, glossaries } from './policy-catalog.js';

/** Reloads the current view (set from ctx on every render). */
let rerender = () => {};

const MASKS = ['redact', 'show_last_4', 'show_first_4', 'hash', 'null', 'date_year_only', 'none'];

export default async function policy(ctx) {
  const { me, query } = ctx;
  rerender = ctx.rerender;
  const view = ctx.parts[0] || 'filters';
  const heading = title('Policy');
  if (!me.isApprover) return [heading, h('p', 'Policy is for owners and stewards of a team, and for mesh admins.')];
  const steward = me.isAdmin || me.owns.some((t) => t.role === 'steward');
  const views = [
    { path: '/policy/filters', label: 'Data filters' },
    { path: '/policy/tags', label: 'Column tags' },
    { path: '/policy/masks', label: 'Tag masks' },
    { path: '/policy/row-rules', label: 'Row rules' },
    ...(steward
      ? [
        { path: '/policy/forms', label: 'Form types' },
        { path: '/policy/rules', label: 'Domain rules' },
        { path: '/policy/glossary', label: 'Glossaries' },
      ]
      : []),
  ];
  const nav = subnav('Policy views', views, `/policy/${view}`);
  const known = views.find((v) => v.path === `/policy/${view}`);
  if (!known) return [heading, nav, h('p', 'This view does not exist, or is for stewards and admins.')];
  const body = await {
    filters: () => productView(ctx, view, dataFilters),
    tags: () => productView(ctx, view, columnTags),
    'row-rules': () => productView(ctx, view, rowRules),
    masks: () => tagMasks(me),
    forms: () => formTypes(ctx),
    rules: () => domainRules(ctx, query),
    glossary: () => glossaries(ctx, query),
  }[view]();
  return [heading, nav, body];
}

/** The products of my teams (admins: every product). */
async function myProducts(me) {
  if (me.isAdmin && me.owns.length === 0) return get('products');
  const lists = await getAll(me.owns.map((t) => { const [domain, team] = split(teamOf(t)); return `products${qs({ domain, team })}`; }), []);
  const seen = new Map();
  for (const p of lists.flat()) seen.set(`${p.domain}.${p.name}`, p);
  return [...seen.values()].sort((a, b) => `${a.domain}.${a.name}`.localeCompare(`${b.domain}.${b.name}`));
}

/** A product picker, then `render(product)` for the chosen one. */
async function productView(ctx, view, render) {
  const products = await myProducts(ctx.me);
  if (products.length === 0) return h('p', { class: 'empty' }, 'Your teams have no products yet.');
  const names = products.map((p) => `${p.domain}.${p.name}`);
  const chosen = names.includes(ctx.query.get('product')) ? ctx.query.get('product') : names[0];
  const pick = select(names, chosen, { name: 'product' });
  const form = h(
    'form',
    { class: 'inline-form', on: { submit: (e) => { e.preventDefault(); go(`/policy/${view}`, { product: pick.value }); } } },
    field('Product', pick),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, 'Show')),
  );
  const product = products.find((p) => `${p.domain}.${p.name}` === chosen);
  return [form, await render(product, ctx)];
}

const base = (p) => `products/${enc(p.domain)}/${enc(p.name)}`;

// ---- data filters

async function dataFilters(product) {
  const tables = product.tables || [];
  const lists = await getAll(tables.map((t) => `${base(product)}/tables/${enc(t.name)}/data-filters`), []);
  return tables.map((t, i) => filtersOfTable(product, t, lists[i] || []));
}

function filtersOfTable(product, t, filters) {
  const editArea = h('div');
  const hid = `filters-${t.name}`;
  const url = `${base(product)}/tables/${enc(t.name)}/data-filters`;
  const list = table({
    caption: `Data filters of ${t.name}`,
    rows: filters,
    empty: `${t.name} has no data filters.`,
    columns: [
      { label: 'Name', key: 'name' },
      { label: 'Description', render: (f) => f.description || '—' },
      { label: 'Row filter', render: (f) => (f.row_filter ? h('code', f.row_filter) : 'all rows') },
      { label: 'Columns', render: (f) => (f.columns && f.columns.length ? f.columns.join(', ') : 'all') },
      {
        label: 'Actions',
        render: (f) =>
          h(
            'div',
            { class: 'row' },
            button('Edit', () => mount(editArea, filterForm(product, t, f)), { 'aria-label': `Edit filter ${f.name}` }),
            button('Delete', async (e) => {
              if (!(await ask({ title: `Delete the filter ${f.name}?`, body: 'A filter a grant uses cannot be deleted (the server says which).', confirm: 'Delete', danger: true }))) return;
              await act(e.currentTarget, editArea, async () => {
                await del(`${url}/${enc(f.name)}`);
                toast(`Deleted ${f.name}`);
                rerender();
              });
            }, { kind: 'danger', 'aria-label': `Delete filter ${f.name}` }),
          ),
      },
    ],
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': hid },
    h('h2', { id: hid }, `Table ${t.name}`),
    list,
    h('div', { class: 'actions' }, button(`New data filter for ${t.name}`, () => mount(editArea, filterForm(product, t, null)))),
    editArea,
  );
}

function filterForm(product, t, existing) {
  const url = `${base(product)}/tables/${enc(t.name)}/data-filters`;
  const name = h('input', { type: 'text', value: existing ? existing.name : '', disabled: !!existing, autocomplete: 'off' });
  const description = h('input', { type: 'text', value: existing ? existing.description || '' : '' });
  const rowFilter = h('textarea', { class: 'code', rows: '3', value: existing ? existing.row_filter || '' : '', spellcheck: 'false' });
  const keep = new Set(existing && existing.columns ? existing.columns : []);
  const boxes = (t.columns || []).map((c) => checkbox(c.name, { value: c.name, checked: keep.has(c.name) }));
  const status = h('div', { 'aria-live': 'polite' });
  const what = existing ? `Edit filter ${existing.name} of ${t.name}` : `New data filter for ${t.name}`;
  const form = h(
    'form',
    {
      class: 'stack',
      'aria-label': what,
      on: {
        submit: (e) => {
          e.preventDefault();
          fieldError(rowFilter, null);
          fieldError(name, null);
          act(form.querySelector('button[type=submit]'), status, async () => {
            const columns = boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
            const body = { description: description.value.trim(), row_filter: rowFilter.value.trim() || null, columns: columns.length ? columns : null };
            try {
              if (existing) await put(`${url}/${enc(existing.name)}`, body);
              else await post(url, { name: name.value.trim(), ...body });
            } catch (err) {
              if (err instanceof ApiError && err.status === 400 && /at line \d+, column \d+|row_filter|expression/i.test(err.message)) {
                fieldError(rowFilter, err.message);
                rowFilter.focus();
                return;
              }
              if (err instanceof ApiError && (err.code === 'invalid_name' || err.code === 'already_exists')) {
                fieldError(name, err.message);
                name.focus();
                return;
              }
              throw err;
            }
            toast(existing ? `Saved ${existing.name}` : `Created ${name.value.trim()}`);
            rerender();
          });
        },
      },
    },
    h('h3', what),
    field('Filter name', name, { required: !existing }),
    field('Description', description),
    field('Row filter', rowFilter, { hint: "An expression over the table's columns, e.g. region = 'eu' AND amount > 0. Empty: all rows." }),
    h('fieldset', h('legend', 'Columns the filter keeps (none checked: all)'), h('div', { class: 'row' }, boxes)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, existing ? 'Save filter' : 'Create filter')),
    status,
  );
  setTimeout(() => (existing ? description : name).focus(), 0);
  return form;
}

// ---- column tags

async function columnTags(product) {
  const tables = product.tables || [];
  const lists = await getAll(tables.map((t) => `${base(product)}/tables/${enc(t.name)}/tags`), []);
  return tables.map((t, i) => {
    const tagsOf = new Map((lists[i] || []).map((x) => [x.column, x.tags || []]));
    const hid = `tags-${t.name}`;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': hid },
      h('h2', { id: hid }, `Table ${t.name}`),
      table({
        caption: `Column tags of ${t.name}`,
        rows: t.columns || [],
        columns: [
          { label: 'Column', key: 'name' },
          { label: 'Type', render: (c) => h('code', c.data_type) },
          {
            label: 'Tags (comma-separated)',
            render: (c) => {
              const input = h('input', { type: 'text', value: (tagsOf.get(c.name) || []).join(', '), 'aria-label': `Tags of ${c.name}`, autocomplete: 'off' });
              const status = h('span', { 'aria-live': 'polite' });
              const save = button('Save', (e) =>
                act(e.currentTarget, status, async () => {
                  const tags = input.value.split(',').map((s) => s.trim()).filter(Boolean);
                  await put(`${base(product)}/tables/${enc(t.name)}/columns/${enc(c.name)}/tags`, { tags });
                  toast(`Tags of ${t.name}.${c.name} saved`);
                }), { 'aria-label': `Save tags of ${c.name}` });
              return h('div', { class: 'row' }, input, save, status);
            },
          },
        ],
      }),
    );
  });
}

// ---- row rules (the editor is its own page)

function rowRules(product) {
  return h(
    'p',
    'Row rules restrict which rows each person reads in every table of a product. ',
    link(`/rules/${enc(product.domain)}/${enc(product.name)}`, `Edit the row rules of ${product.domain}.${product.name}`),
    '.',
  );
}

// ---- tag masks

async function tagMasks(me) {
  const [masks, domains] = await Promise.all([get('tag-masks'), get('domains').catch(() => [])]);
  const status = h('div', { 'aria-live': 'polite' });
  const tag = h('input', { type: 'text', autocomplete: 'off' });
  const mask = select(MASKS, 'hash');
  const custom = h('input', { type: 'text', placeholder: 'left({col}, 2)', autocomplete: 'off' });
  const scope = select([...(me.isAdmin ? [{ value: '', label: 'Whole mesh' }] : []), ...domains.map((d) => ({ value: d.name, label: `Domain ${d.name}` }))], me.isAdmin ? '' : split(teamOf(me.owns[0] || { team: '' }))[0]);
  const form = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'tm-new-h',
      on: {
        submit: (e) => {
          e.preventDefault();
          act(form.querySelector('button[type=submit]'), status, async () => {
            const m = custom.value.trim() ? `custom:${custom.value.trim()}` : mask.value;
            await put('tag-masks', { tag: tag.value.trim(), mask: m, domain: scope.value || undefined });
            toast(`Columns tagged ${tag.value.trim()} are now masked with ${m}`);
            rerender();
          });
        },
      },
    },
    h('h2', { id: 'tm-new-h' }, 'Set a tag mask'),
    h('div', { class: 'inline-form' }, field('Tag', tag, { required: true }), field('Mask', mask), field('Custom mask expression (optional)', custom, { hint: 'Overrides the mask: an expression with {col}.' }), field('Applies to', scope)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Save tag mask')),
    status,
  );
  return [
    h('p', 'A tag mask masks every column carrying the tag, for every grantee, unless a grant sets its own mask. A domain\'s wins over the mesh\'s.'),
    table({
      caption: 'Tag masks',
      rows: masks,
      empty: 'No tag masks.',
      columns: [
        { label: 'Tag', key: 'tag' },
        { label: 'Mask', render: (m) => h('code', fmt(m.mask)) },
        { label: 'Applies to', render: (m) => (m.domain ? `domain ${m.domain}` : 'whole mesh') },
        { label: 'Set', render: (m) => fmtTime(m.created_at) },
        {
          label: 'Actions',
          render: (m) => button('Delete', async (e) => {
            if (!(await ask({ title: `Delete the tag mask on ${m.tag}?`, body: `Columns tagged ${m.tag} will read unmasked where no grant masks them.`, confirm: 'Delete', danger: true }))) return;
            await act(e.currentTarget, status, async () => {
              await del(`tag-masks/${enc(m.id)}`);
              toast('Tag mask deleted');
              rerender();
            });
          }, { kind: 'danger', 'aria-label': `Delete tag mask on ${m.tag}${m.domain ? ` for ${m.domain}` : ''}` }),
        },
      ],
    }),
    form,
  ];
}
