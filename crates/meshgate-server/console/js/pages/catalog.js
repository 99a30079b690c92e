// The catalog (#/catalog?q=&domain=&team=&tag=&classification=&term=): full-text search over
// the products the signed-in person may see, with facets. Facet changes update the hash in
// place (history.pushState) and re-render only the filters and results, so the keyboard focus
// stays where it was; Back goes through the router as usual.

import { act, badge, errorBox, get, h, link, mount, qs, tagList, title } from '../lib.js';

const PAGE = 20;
// Facets in the order they are shown; `multi` facets (tags) are ANDed, the others pick one.
const FACETS = [
  { key: 'domain', legend: 'Domain' },
  { key: 'team', legend: 'Owner team' },
  { key: 'classification', legend: 'Classification' },
  { key: 'tag', legend: 'Tags', multi: true },
  { key: 'term', legend: 'Glossary term' },
];

export default async function catalog(ctx) {
  const state = fromQuery(ctx.query);
  const input = h('input', { type: 'search', id: 'catalog-q', name: 'q', value: state.q, autocomplete: 'off', placeholder: 'e.g. customers, revenue, pii' });
  const facetsEl = h('div', { class: 'facets' });
  const resultsEl = h('div', { class: 'catalog-results' });
  const countEl = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });

  const search = async (focusId) => {
    let answer;
    try {
      answer = await get(`search${qs({ ...apiParams(state), limit: PAGE })}`);
    } catch (e) {
      mount(countEl);
      mount(resultsEl, errorBox(e));
      return;
    }
    renderFacets(answer.facets || {});
    renderResults(answer);
    if (focusId) document.getElementById(focusId)?.focus();
  };

  const update = (focusId) => {
    history.pushState(null, '', `#/catalog${qs(hashParams(state))}`);
    search(focusId);
  };

  const renderFacets = (facets) => {
    const groups = FACETS.map((f) => facetGroup(f, facets[f.key] || [], state, (value, checked) => {
      if (f.multi) {
        state.tag = checked ? [...new Set([...state.tag, value])] : state.tag.filter((t) => t !== value);
      } else {
        state[f.key] = value;
      }
      update(optionId(f.key, value));
    }));
    const active = FACETS.some((f) => (f.multi ? state.tag.length : state[f.key]));
    mount(
      facetsEl,
      groups,
      active ? h('button', { type: 'button', class: 'btn', on: { click: () => {
        for (const f of FACETS) state[f.key] = f.multi ? [] : '';
        update('catalog-q');
      } } }, 'Clear filters') : null,
    );
  };

  const renderResults = (answer) => {
    const hits = answer.results || [];
    const total = answer.total ?? hits.length;
    mount(countEl, total === 1 ? '1 product' : `${total} products`, state.q ? ` match “${state.q}”` : '');
    if (hits.length === 0) {
      mount(resultsEl, h('p', { class: 'empty' }, state.q || FACETS.some((f) => (f.multi ? state.tag.length : state[f.key]))
        ? 'No product matches. Try other or fewer words, or clear the filters.'
        : 'No product is published yet. Owners publish products from the command line or the API; ask a domain owner.'));
      return;
    }
    const list = h('ul', { class: 'results' }, hits.map(hitItem));
    const more = h('div', { class: 'actions' });
    const moreStatus = h('div');
    let offset = hits.length;
    const fill = () => {
      mount(more, offset < total ? h('button', { type: 'button', class: 'btn', on: { click: (e) => act(e.currentTarget, moreStatus, async () => {
        const next = await get(`search${qs({ ...apiParams(state), limit: PAGE, offset })}`);
        const items = (next.results || []).map(hitItem);
        list.append(...items);
        offset += items.length;
        if (items.length === 0) offset = total;
        fill();
        items[0]?.querySelector('a')?.focus();
      }) } }, `Show more (${total - offset} left)`) : null);
    };
    fill();
    mount(resultsEl, list, more, moreStatus);
  };

  const form = h(
    'form',
    {
      class: 'searchbar',
      role: 'search',
      on: {
        submit: (e) => {
          e.preventDefault();
          state.q = input.value.trim();
          update();
        },
      },
    },
    h('label', { for: 'catalog-q', class: 'sr-only' }, 'Search the catalog'),
    input,
    h('button', { type: 'submit', class: 'btn primary' }, 'Search'),
  );

  await search();
  return [
    title('Catalog'),
    h('p', { class: 'hint' }, 'Find data products by name, description, table, column, tag or glossary term. Leave the box empty to list everything you may see.'),
    form,
    h('div', { class: 'sidebar-layout' }, h('aside', { 'aria-label': 'Filters' }, h('details', { class: 'facets-box', open: !matchMedia('(max-width: 760px)').matches }, h('summary', 'Filters'), facetsEl)), h('section', { 'aria-labelledby': 'results-h' }, h('h2', { id: 'results-h', class: 'sr-only' }, 'Results'), countEl, resultsEl)),
  ];
}

function fromQuery(query) {
  return {
    q: query.get('q') || '',
    domain: query.get('domain') || '',
    team: query.get('team') || '',
    classification: query.get('classification') || '',
    term: query.get('term') || '',
    tag: (query.get('tag') || '').split(',').map((t) => t.trim()).filter(Boolean),
  };
}

function hashParams(s) {
  return { q: s.q, domain: s.domain, team: s.team, tag: s.tag.join(','), classification: s.classification, term: s.term };
}

const apiParams = hashParams;

const optionId = (key, value) => `facet-${key}-${String(value || 'any').replace(/[^a-z0-9_-]/gi, '_')}`;

function facetGroup(f, values, state, onChange) {
  const selected = f.multi ? state.tag : [state[f.key]].filter(Boolean);
  // A selected value the answer no longer lists still shows, so it can be cleared.
  const shown = [...values];
  for (const s of selected) if (!shown.some((v) => v.value === s)) shown.push({ value: s, count: 0 });
  if (shown.length === 0) return null;
  const name = `facet-${f.key}`;
  const option = (value, label, count) => {
    const id = optionId(f.key, value);
    const checked = f.multi ? selected.includes(value) : (state[f.key] || '') === value;
    const inputEl = h('input', {
      type: f.multi ? 'checkbox' : 'radio',
      name,
      id,
      value,
      checked,
      on: { change: (e) => onChange(value, e.currentTarget.checked) },
    });
    return h('li', h('label', { for: id }, inputEl, h('span', label), count === null ? null : h('span', { class: 'facet-count' }, `(${count})`)));
  };
  return h(
    'fieldset',
    h('legend', f.legend),
    h(
      'ul',
      { class: 'plain' },
      f.multi ? null : option('', `Any ${f.legend.toLowerCase()}`, null),
      shown.map((v) => option(v.value, v.value, v.count)),
    ),
  );
}

function hitItem(hit) {
  const [domain, name] = [hit.domain, hit.name];
  const dotted = `${domain}.${name}`;
  return h(
    'li',
    h('h2', link(`/products/${encodeURIComponent(domain)}/${encodeURIComponent(name)}`, dotted)),
    hit.description ? h('p', { class: 'desc' }, hit.description) : h('p', { class: 'muted' }, 'No description.'),
    h(
      'div',
      { class: 'hit-meta' },
      badge(hit.listing || 'published'),
      hit.classification ? badge(hit.classification) : null,
      h('span', { class: 'muted' }, 'Owner team: ', hit.team),
    ),
    hit.tags && hit.tags.length ? h('div', { class: 'hit-row' }, h('span', { class: 'muted' }, 'Tags: '), tagList(hit.tags)) : null,
    hit.terms && hit.terms.length ? h('div', { class: 'hit-row' }, h('span', { class: 'muted' }, 'Terms: '), tagList(hit.terms, 'term')) : null,
  );
}
