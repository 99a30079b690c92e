// Sign in (docs/design/CONSOLE.md §Sign-in): at an identity provider, with an API token, or —
// in the quickstart only — as one of the demo people with one click. No token ever goes
// into a URL or the browser's storage: every way ends in an HttpOnly session cookie.

import { ApiError, act, button, field, get, h, post } from '../lib.js';

export default async function signin() {
  const [providers, demo] = await Promise.all([
    get('/auth/providers', { quiet: true }).catch(() => ({ providers: [] })),
    get('/auth/demo', { quiet: true }).catch(() => null),
  ]);
  document.title = 'Sign in · meshgate';
  const status = h('div', { 'aria-live': 'polite' });
  const returnTo = `/${location.hash || ''}`;
  const sections = [];

  if (demo && demo.people && demo.people.length) {
    sections.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'demo-h' },
        h('h2', { id: 'demo-h' }, 'Demo people'),
        h('p', 'This is the quickstart: sign in as one of its people with one click.'),
        h(
          'ul',
          { class: 'people' },
          demo.people.map((p) =>
            h(
              'li',
              button(`Sign in as ${p.name}`, (e) =>
                act(e.currentTarget, status, async () => {
                  await post('/auth/demo', { person: p.name });
                  location.reload();
                }), { kind: 'primary', 'data-person': p.name }),
              h('span', { class: 'hint' }, describe(p.name, p.is_admin)),
            ),
          ),
        ),
      ),
    );
  }

  if (providers.providers && providers.providers.length) {
    sections.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'idp-h' },
        h('h2', { id: 'idp-h' }, 'Your organisation'),
        h(
          'ul',
          { class: 'people' },
          providers.providers.map((p) =>
            h('li', h('a', { class: 'btn primary', href: `${p.login_url}&return_to=${encodeURIComponent(returnTo)}` }, `Sign in with ${p.label}`)),
          ),
        ),
      ),
    );
  }

  const tokenInput = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'mgt_…' });
  const form = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'token-h',
      on: {
        submit: (e) => {
          e.preventDefault();
          const btn = form.querySelector('button[type=submit]');
          act(btn, status, async () => {
            const token = tokenInput.value.trim();
            if (!token) throw new ApiError(400, 'invalid_request', 'Paste an API token (it starts with mgt_)');
            await post('/auth/token', { token });
            tokenInput.value = '';
            location.reload();
          });
        },
      },
    },
    h('h2', { id: 'token-h' }, 'With an API token'),
    field('API token', tokenInput, { hint: 'From `meshgate token create` or your admin. It opens a session and is not kept by the browser.' }),
    h('button', { type: 'submit', class: 'btn' }, 'Sign in'),
  );
  sections.push(form);

  return [h('h1', { tabindex: '-1' }, 'Sign in to meshgate'), status, h('div', { class: 'signin-grid' }, sections)];
}

function describe(name, admin) {
  const known = {
    alice: 'owner of sales.core — approves requests for sales products',
    carol: 'steward of sales.core',
    bob: 'member of marketing.analytics — a consumer',
    admin: 'mesh admin',
  };
  return known[name] || (admin ? 'mesh admin' : '');
}

