// A product's page (#/products/{domain}/{product}): its catalog entry — description, owner
// team, listing, classification, tags, terms, forms, requirements — and each table's schema.
// Consumers get "Request access"; owners and stewards of its team get their tools.

import { ApiError, badge, defs, enc, fmt, fmtTime, get, h, link, table, tagList, teamName, title } from '../lib.js';

export default async function product(ctx) {
  const [domain, name] = ctx.parts;
  if (!domain || !name) {
    return [title('Product not found'), h('p', 'This address names no product. ', link('/catalog', 'Search the catalog.'))];
  }
  const base = `products/${enc(domain)}/${enc(name)}`;
  const dotted = `${domain}.${name}`;
  let entry;
  try {
    entry = await get(`${base}/catalog`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    return [title('Product not found'), h('p', `There is no product ${dotted}, or you may not see it. `, link('/catalog', 'Search the catalog.'))];
  }
  const [detail, settings] = await Promise.all([
    get(base).catch(() => null),
    get(`${base}/share-settings`).catch(() => null),
  ]);
  const team = qualified(domain, entry.team || (detail && detail.team));
  const member = (ctx.me.teams || []).some((t) => teamName(t) === team);
  const steward = (ctx.me.owns || []).some((t) => teamName(t) === team);

  const actions = h(
    'div',
    { class: 'actions' },
    member ? null : link(`/request/${enc(domain)}/${enc(name)}`, 'Request access', { class: 'btn primary' }),
    steward ? link(`/rules/${enc(domain)}/${enc(name)}`, 'Row rules', { class: 'btn' }) : null,
    steward ? link(`/inbox?product=${encodeURIComponent(dotted)}`, 'Shares of this product', { class: 'btn' }) : null,
    member && (entry.tables || []).length ? link(`/sql?table=${encodeURIComponent(`${dotted}.${entry.tables[0].name}`)}`, 'Query in the SQL workbench', { class: 'btn' }) : null,
  );

  const columnsByTable = new Map((detail?.tables || []).map((t) => [t.name, t]));
  const tables = entry.tables || [];

  return [
    title(dotted),
    entry.description ? h('p', { class: 'lead' }, entry.description) : h('p', { class: 'muted' }, 'The owners have not described this product yet.'),
    member ? h('p', { class: 'hint' }, `Your team ${team} owns this product: you read it in full.`) : null,
    actions,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'about-h' },
      h('h2', { id: 'about-h' }, 'About'),
      defs([
        ['Owner team', team],
        ['Listing', badge(entry.listing)],
        ['Revision', String(entry.revision ?? '—')],
        ['Classification', entry.classification ? badge(entry.classification) : h('span', { class: 'muted' }, 'not classified')],
        ['Tags', tagList(entry.tags)],
        ['Glossary terms', termLinks(entry.terms)],
        ['Last changed', detail ? fmtTime(detail.updated_at) : null],
        ['Access requests', requestRules(entry, settings)],
      ]),
    ),
    formsSection('Forms', 'forms-h', entry.forms),
    requirementsSection(entry),
    h('h2', 'Tables'),
    tables.length === 0 ? h('p', { class: 'empty' }, 'This product has no tables (it may hold files only).') : tables.map((t) => tableSection(dotted, t, columnsByTable.get(t.name))),
  ];
}

/** A team as 'domain.team' whether the API gave 'team' or 'domain.team'. */
function qualified(domain, team) {
  if (!team) return '';
  return String(team).includes('.') ? String(team) : `${domain}.${team}`;
}

function termLinks(terms) {
  if (!terms || terms.length === 0) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: ['tags', 'plain'] }, terms.map((t) => h('li', link(`/catalog?term=${encodeURIComponent(t)}`, t, { class: 'badge term' }))));
}

function requestRules(entry, settings) {
  const parts = [];
  if (entry.request_requirements && entry.request_requirements.length) {
    parts.push(`A request must include the form${entry.request_requirements.length > 1 ? 's' : ''} ${entry.request_requirements.join(', ')}.`);
  }
  if (settings) {
    if (settings.expiry_required) parts.push('An expiry date is required.');
    if (settings.min_days) parts.push(`At least ${settings.min_days} days.`);
    if (settings.max_days) parts.push(`At most ${settings.max_days} days.`);
  }
  return parts.length ? parts.join(' ') : 'No forms or expiry required.';
}

function formsSection(heading, id, forms, level = 'h2') {
  if (!forms || forms.length === 0) {
    return level === 'h2' ? h('section', { 'aria-labelledby': id }, h('h2', { id }, heading), h('p', { class: 'empty' }, 'No metadata forms are filled for this product.')) : null;
  }
  const sub = level === 'h2' ? 'h3' : 'h4';
  return h(
    'section',
    { 'aria-labelledby': id },
    h(level, { id }, heading),
    h(
      'div',
      { class: 'forms-grid' },
      forms.map((f) =>
        h(
          'div',
          { class: 'card form-card' },
          h(sub, f.form),
          defs(Object.entries(f.values || {}).map(([k, v]) => [k, fmt(v)])),
          f.revision && f.latest_revision && f.revision !== f.latest_revision
            ? h('p', { class: 'hint' }, `Filled against revision ${f.revision} of the form (latest ${f.latest_revision}).`)
            : null,
        ),
      ),
    ),
  );
}

function requirementsSection(entry) {
  const reqs = entry.publish_requirements || [];
  if (reqs.length === 0) return null;
  return h(
    'section',
    { 'aria-labelledby': 'pubreq-h' },
    h('h2', { id: 'pubreq-h' }, 'Publish requirements'),
    h(
      'ul',
      { class: 'plain reqs' },
      reqs.map((r) => h('li', r.present ? badge('present', 'published') : badge('missing', 'rejected'), ' ', `form ${r.form}`)),
    ),
  );
}

function tableSection(dotted, t, detail) {
  const id = `table-${t.name}`;
  const nullable = new Map((detail?.columns || []).map((c) => [c.name, c.nullable]));
  return h(
    'section',
    { class: 'card', 'aria-labelledby': id },
    h('h3', { id }, t.name),
    t.description ? h('p', t.description) : null,
    h('p', { class: 'muted sqlname' }, 'In SQL: ', h('code', `${dotted}.${t.name}`)),
    h(
      'div',
      { class: 'hit-meta' },
      t.classification ? badge(t.classification) : null,
      t.tags && t.tags.length ? [h('span', { class: 'muted' }, 'Tags: '), tagList(t.tags)] : null,
    ),
    formsSection(`Forms of ${t.name}`, `${id}-forms`, t.forms, 'h4'),
    table({
      caption: `Columns of ${t.name}`,
      columns: [
        { label: 'Column', render: (c) => h('code', c.name) },
        { label: 'Type', render: (c) => [c.data_type, nullable.get(c.name) === false ? h('span', { class: 'muted' }, ' not null') : null] },
        { label: 'Description', render: (c) => c.description || '—' },
        { label: 'Classification', render: (c) => (c.classification ? badge(c.classification) : '—') },
        { label: 'Tags', render: (c) => tagList(c.tags) },
        { label: 'Terms', render: (c) => termLinks(c.terms) },
      ],
      rows: t.columns || [],
      empty: 'No columns are listed for this table.',
    }),
  );
}

