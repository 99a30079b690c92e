// The console's frame (docs/design/CONSOLE.md): who is signed in, the navigation, the bell,
// and the router that loads one page module per route. A page module exports a default
// async function(ctx) that returns the page's nodes; ctx = {me, session, parts, query,
// refreshBell, rerender}.

import { ApiError, errorBox, get, h, loading, mount, post, route, setCsrf } from './lib.js';

const PAGES = {
  '': 'catalog',
  catalog: 'catalog',
  products: 'product',
  request: 'request',
  access: 'access',
  inbox: 'inbox',
  shares: 'share',
  rules: 'rules',
  policy: 'policy',
  sql: 'sql',
  notifications: 'notifications',
  admin: 'admin',
};

const app = document.getElementById('app');
let ctx = null;
let bellCount = null;
let bellTimer = null;

async function boot() {
  let session;
  try {
    session = await get('/auth/session', { quiet: true });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signIn();
    mount(app, h('main', { id: 'main', tabindex: '-1' }, errorBox(e)));
    return undefined;
  }
  setCsrf(session.csrf_token);
  const me = await get('whoami');
  me.principal = session.principal;
  me.isAdmin = !!session.principal.is_admin;
  me.owns = (me.teams || []).filter((t) => t.role === 'owner' || t.role === 'steward');
  me.isApprover = me.isAdmin || me.owns.length > 0;
  ctx = { me, session, refreshBell };
  frame();
  window.addEventListener('hashchange', render);
  await render();
  refreshBell();
  bellTimer = setInterval(refreshBell, 30000);
  return undefined;
}

async function signIn() {
  const { default: page } = await import('./pages/signin.js');
  document.title = 'Sign in · meshgate';
  const main = h('main', { id: 'main', tabindex: '-1', class: 'signin' });
  mount(app, main);
  mount(main, loading());
  mount(main, await page());
}

window.addEventListener('meshgate:signed-out', () => {
  if (bellTimer) clearInterval(bellTimer);
  if (ctx) {
    ctx = null;
    signIn();
  }
});

function navLink(path, label) {
  return h('li', h('a', { href: `#${path}`, 'data-nav': path.split('/')[1] || 'catalog' }, label));
}

function frame() {
  const { me } = ctx;
  bellCount = h('span', { class: 'count', 'aria-hidden': 'true' });
  const bell = h(
    'a',
    { href: '#/notifications', class: 'bell', id: 'bell', 'aria-label': 'Notifications', 'data-nav': 'notifications' },
    h('img', { class: 'bell-icon', src: '/console/bell.svg', alt: '', width: '20', height: '20' }),
    bellCount,
  );
  const nav = h(
    'nav',
    { 'aria-label': 'Main' },
    h(
      'ul',
      navLink('/catalog', 'Catalog'),
      navLink('/access', 'My access'),
      me.isApprover ? navLink('/inbox', 'Approvals') : null,
      me.isApprover ? navLink('/policy', 'Policy') : null,
      navLink('/sql', 'SQL'),
      me.isAdmin ? navLink('/admin', 'Admin') : null,
    ),
  );
  const who = me.principal.display_name || me.principal.name;
  const signOut = h('button', { type: 'button', class: 'btn link', on: { click: logout } }, 'Sign out');
  mount(
    app,
    h(
      'header',
      { class: 'top' },
      h('a', { href: '#/catalog', class: 'brand' }, h('img', { src: '/console/icon.svg', alt: '', width: '24', height: '24' }), 'meshgate'),
      nav,
      h('div', { class: 'who' }, bell, h('span', { class: 'me', title: me.principal.name }, who), signOut),
    ),
    h('main', { id: 'main', tabindex: '-1' }),
  );
}

async function logout() {
  try {
    const r = await post('/auth/logout', {});
    if (r && r.end_session_url) {
      location.assign(r.end_session_url);
      return;
    }
  } catch {
    /* signed out anyway */
  }
  location.hash = '';
  location.reload();
}

/** Counts the unread notifications into the bell. */
async function refreshBell() {
  if (!ctx || !bellCount) return;
  try {
    const unread = await get('notifications?unread=true&limit=1000');
    const n = unread.length;
    bellCount.textContent = n > 0 ? String(n >= 1000 ? '999+' : n) : '';
    document.getElementById('bell')?.setAttribute('aria-label', n > 0 ? `Notifications, ${n} unread` : 'Notifications, none unread');
  } catch {
    /* the page shows errors; the bell stays as it was */
  }
}

let rendering = 0;
async function render() {
  if (!ctx) return;
  if (location.hash === '#main') return;
  const { parts, query } = route();
  const name = PAGES[parts[0] || ''];
  const main = document.getElementById('main');
  const mine = ++rendering;
  for (const a of document.querySelectorAll('nav a[data-nav], a.bell')) {
    if (a.dataset.nav === (parts[0] || 'catalog')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!name) {
    mount(main, h('h1', { tabindex: '-1' }, 'Not found'), h('p', 'This page does not exist. ', h('a', { href: '#/catalog' }, 'Go to the catalog.')));
    return;
  }
  mount(main, loading());
  try {
    const { default: page } = await import(`./pages/${name}.js`);
    const nodes = await page({ ...ctx, parts: parts.slice(1), query, rerender: render });
    if (mine !== rendering) return;
    mount(main, nodes);
  } catch (e) {
    if (mine !== rendering) return;
    mount(main, h('h1', { tabindex: '-1' }, 'This page could not be shown'), errorBox(e));
  }
  const h1 = main.querySelector('h1');
  (h1 || main).focus({ preventScroll: true });
}

boot();
