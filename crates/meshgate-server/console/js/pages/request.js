// Request access to a product (#/request/{domain}/{product}): what (tables, folders or the
// whole product), for which team, why, until when, and the forms the domain's request rules
// require — checked here before anything is sent, then POST /shares.

import { ApiError, act, enc, errorText, field, get, h, link, mount, post, select, teamNames, title } from '../lib.js';

export default async function request(ctx) {
  const [domain, name] = ctx.parts;
  const dotted = `${domain}.${name}`;
  const base = `products/${enc(domain)}/${enc(name)}`;
  const [entry, settings] = await Promise.all([get(`${base}/catalog`), get(`${base}/share-settings`).catch(() => null)]);
  const formTypes = await Promise.all((entry.request_requirements || []).map((f) => get(`form-types/${enc(f)}`)));
  const formControls = await Promise.all(formTypes.map((ft) => formFieldset(ft)));

  const status = h('div', { 'aria-live': 'polite' });
  const teams = teamNames(ctx.me);
  const whole = h('input', { type: 'checkbox', id: 'req-whole', name: 'whole_product' });
  const tableBoxes = (entry.tables || []).map((t) => h('input', { type: 'checkbox', name: 'tables', value: t.name, id: `req-t-${t.name}` }));
  const folders = h('input', { type: 'text', name: 'folders', autocomplete: 'off', placeholder: 'reports/2025/, exports/' });
  const teamSelect = teams.length > 1 ? select(teams, teams[0], { name: 'team' }) : null;
  const reason = h('textarea', { name: 'reason', rows: '3' });
  const expiry = h('input', { type: 'date', name: 'expires_at' });
  const limits = expiryLimits(settings);
  if (limits.min) expiry.min = limits.min;
  if (limits.max) expiry.max = limits.max;

  whole.addEventListener('change', () => {
    for (const b of tableBoxes) b.disabled = whole.checked;
    folders.disabled = whole.checked;
  });

  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Submit request');
  const form = h(
    'form',
    { novalidate: true, class: 'request-form', on: { submit: (e) => {
      e.preventDefault();
      const body = collect();
      if (!body) return;
      act(submit, status, async () => {
        try {
          const share = await post('shares', body);
          done(share);
        } catch (err) {
          throw explain(err, entry);
        }
      });
    } } },
    h(
      'fieldset',
      h('legend', 'What you need'),
      h('div', { class: 'check' }, whole, h('label', { for: 'req-whole' }, 'Whole product'), h('span', { class: 'hint' }, ' — every table and every file, including ones added later')),
      tableBoxes.length
        ? h('fieldset', { class: 'nested' }, h('legend', 'Tables'), h('ul', { class: 'plain' }, tableBoxes.map((b) => h('li', { class: 'check' }, b, h('label', { for: b.id }, b.value)))))
        : h('p', { class: 'muted' }, 'This product has no tables.'),
      field('Folders (optional)', folders, { hint: 'File folders of the product, separated by commas, e.g. reports/2025/.' }),
      h('p', { class: 'hint' }, 'Choose nothing here to request every table.'),
    ),
    teamSelect
      ? field('Requesting team', teamSelect, { hint: 'The team that will read the data; its members share the access.' })
      : h('p', teams.length === 1 ? `You request for your team ${teams[0]}.` : 'You are in no team: you request for yourself.'),
    field('Reason', reason, { required: true, hint: 'What you will use the data for. The approvers read this.' }),
    field(limits.required ? 'Expires on' : 'Expires on (optional)', expiry, { required: limits.required, hint: limits.hint }),
    formControls.map((f) => f.node),
    h('p', { class: 'hint' }, h('span', { class: 'req', 'aria-hidden': 'true' }, '*'), ' marks a required field.'),
    status,
    h('div', { class: 'actions' }, submit, link(`/products/${enc(domain)}/${enc(name)}`, 'Cancel', { class: 'btn' })),
  );

  const wrap = h('div', form);

  function collect() {
    const problems = [];
    for (const el of form.querySelectorAll('[aria-invalid=true]')) clearInvalid(el);
    if (!reason.value.trim()) problems.push(invalid(reason, 'Say why you need this data.'));
    if (limits.required && !expiry.value) problems.push(invalid(expiry, 'This product needs an expiry date.'));
    if (expiry.value && limits.min && expiry.value < limits.min) problems.push(invalid(expiry, `Choose ${limits.min} or later.`));
    if (expiry.value && limits.max && expiry.value > limits.max) problems.push(invalid(expiry, `Choose ${limits.max} or earlier.`));
    const forms = {};
    for (const f of formControls) {
      const { values, errors } = f.read();
      problems.push(...errors);
      forms[f.name] = values;
    }
    if (problems.length) {
      mount(status, h('div', { class: 'error', role: 'alert' }, `Fix ${problems.length === 1 ? 'the field' : `the ${problems.length} fields`} marked above, then submit again.`));
      problems[0].focus();
      return null;
    }
    const tables = tableBoxes.filter((b) => b.checked).map((b) => b.value);
    const folderList = folders.value.split(',').map((s) => s.trim()).filter(Boolean);
    const body = { product: dotted, reason: reason.value.trim() };
    if (teamSelect) body.team = teamSelect.value;
    else if (teams.length === 1) body.team = teams[0];
    if (whole.checked) body.whole_product = true;
    else {
      if (tables.length) body.tables = tables;
      if (folderList.length) body.folders = folderList;
    }
    if (expiry.value) body.expires_at = `${expiry.value}T00:00:00Z`;
    if (formControls.length) body.forms = forms;
    return body;
  }

  function done(share) {
    const processed = share.status === 'processed';
    mount(
      wrap,
      h(
        'div',
        { class: 'ok-box', role: 'status' },
        h('h2', { tabindex: '-1', id: 'req-done' }, processed ? 'Access granted' : 'Request submitted'),
        h('p', processed
          ? 'A rule of the product approved your request at once: the data is being shared with you now.'
          : `Your request is ${share.status.replace(/_/g, ' ')}. The owners of ${dotted} are notified; you will be notified of their decision.`),
        h('ul', h('li', link(`/shares/${share.id}`, 'See this request')), h('li', link('/access', 'Go to My access'))),
      ),
    );
    document.getElementById('req-done')?.focus();
  }

  return [
    title(`Request access to ${dotted}`),
    entry.listing && entry.listing !== 'published'
      ? h('p', { class: 'error' }, `This product is ${entry.listing}: it cannot be requested until its owners publish it.`)
      : null,
    entry.description ? h('p', { class: 'muted' }, entry.description) : null,
    wrap,
  ];
}

/** The date bounds (YYYY-MM-DD) from the product's share settings. Expiry is sent as 00:00 UTC. */
function expiryLimits(s) {
  const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
  const out = { required: !!(s && s.expiry_required), min: day(1), max: null, hint: '' };
  if (s && s.min_days) out.min = day(s.min_days + 1);
  if (s && s.max_days) out.max = day(s.max_days);
  const words = [];
  if (s && s.min_days) words.push(`at least ${s.min_days} days from now`);
  if (s && s.max_days) words.push(`at most ${s.max_days} days from now`);
  out.hint = words.length ? `The owners allow access ${words.join(' and ')}.` : 'Leave empty for access until revoked.';
  return out;
}

function invalid(el, message) {
  el.setAttribute('aria-invalid', 'true');
  const id = `${el.id}-err`;
  const msg = h('p', { class: 'field-error', id }, message);
  el.closest('.field, .check')?.append(msg);
  el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
  return el;
}

function clearInvalid(el) {
  el.removeAttribute('aria-invalid');
  const id = `${el.id}-err`;
  document.getElementById(id)?.remove();
  const rest = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== id);
  if (rest.length) el.setAttribute('aria-describedby', rest.join(' '));
  else el.removeAttribute('aria-describedby');
}

/** What the server said, with what to do next. */
function explain(err, entry) {
  if (!(err instanceof ApiError)) return err;
  let hint = '';
  if (err.code === 'missing_forms') hint = ' Fill in the forms above (reload the page if they are not shown: the rules may have just changed) and submit again.';
  else if (err.status === 409) hint = ` The product cannot be requested now; ask its owners (team ${entry.team}).`;
  else if (err.status === 400 && /expir|days/i.test(err.message)) hint = ' Change the Expires on date and submit again.';
  else if (err.status === 400) hint = ' Correct the request and submit again.';
  return new ApiError(err.status, err.code, `${errorText(err).replace(/\.$/, '')}.${hint}`, err.requestId);
}

async function formFieldset(ft) {
  const inputs = [];
  for (const f of ft.fields || []) inputs.push({ f, el: await control(f, ft.name) });
  const node = h(
    'fieldset',
    { class: 'form-type' },
    h('legend', `Form: ${ft.name}`),
    ft.description ? h('p', { class: 'hint' }, ft.description) : null,
    inputs.map(({ f, el }) =>
      f.type === 'boolean'
        ? h('div', { class: 'check' }, el, h('label', { for: el.id }, f.name), f.description ? h('span', { class: 'hint' }, ` — ${f.description}`) : null)
        : field(f.name, el, { required: !!f.required, hint: f.description || undefined }),
    ),
  );
  const read = () => {
    const values = {};
    const errors = [];
    for (const { f, el } of inputs) {
      if (f.type === 'boolean') {
        values[f.name] = el.checked;
        continue;
      }
      const raw = String(el.value || '').trim();
      if (!raw) {
        if (f.required) errors.push(invalid(el, `${f.name} is required by the form ${ft.name}.`));
        continue;
      }
      if (f.type === 'number') {
        const n = Number(raw);
        if (!Number.isFinite(n)) {
          errors.push(invalid(el, `${f.name} must be a number.`));
          continue;
        }
        values[f.name] = n;
      } else values[f.name] = raw;
    }
    return { values, errors };
  };
  return { name: ft.name, node, read };
}

let seq = 0;
async function control(f, form) {
  const id = `form-${form}-${f.name}-${++seq}`.replace(/[^a-z0-9_-]/gi, '_');
  const choose = { value: '', label: 'Choose…' };
  switch (f.type) {
    case 'number':
      return h('input', { type: 'number', id, step: 'any' });
    case 'boolean':
      return h('input', { type: 'checkbox', id });
    case 'date':
      return h('input', { type: 'date', id });
    case 'enum':
      return select([choose, ...(f.values || [])], '', { id });
    case 'glossary_term':
      return select([choose, ...(await glossaryTerms(f.glossary))], '', { id });
    case 'principal': {
      const people = await get('principals').catch(() => []);
      return select([choose, ...people.map((p) => ({ value: p.name, label: p.display_name && p.display_name !== p.name ? `${p.display_name} (${p.name})` : p.name }))], '', { id });
    }
    default:
      return h('input', { type: 'text', id });
  }
}

async function glossaryTerms(glossary) {
  const names = glossary ? [glossary] : (await get('glossaries').catch(() => [])).filter((g) => g.enabled !== false).map((g) => g.name);
  const lists = await Promise.all(names.map((g) => get(`glossaries/${enc(g)}/terms`).catch(() => [])));
  return lists.flat().filter((t) => t.enabled !== false).map((t) => ({ value: t.term, label: t.description ? `${t.term} — ${t.description}` : t.term }));
}
