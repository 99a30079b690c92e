// Notifications (#/notifications): the signed-in person's inbox, newest first, with "Mark as
// read" per message and for all; and the e-mail address notifications are also sent to.

import { ApiError, act, del, errorText, field, fmtTime, get, h, link, mount, post, put, title, toast } from '../lib.js';

export default async function notifications(ctx) {
  const [items, contact] = await Promise.all([
    get('notifications?limit=100'),
    get('contacts/me', { quiet: true }).catch((e) => (e instanceof ApiError && e.status === 404 ? null : { error: e })),
  ]);
  const status = h('div', { 'aria-live': 'polite' });
  const unread = items.filter((n) => !n.read_at).length;
  const countEl = h('p', { class: 'hint', role: 'status' });
  const setCount = (n) => mount(countEl, items.length === 0 ? '' : n === 0 ? `All ${items.length} read.` : `${n} unread of ${items.length}.`);
  setCount(unread);
  let left = unread;

  const list = h('ul', { class: 'plain notes' }, items.map((n) => item(n, () => {
    left -= 1;
    setCount(left);
    if (left === 0) allBtn.disabled = true;
    ctx.refreshBell();
  })));

  const allBtn = h('button', { type: 'button', class: 'btn', disabled: unread === 0 }, 'Mark all as read');
  allBtn.addEventListener('click', () => act(allBtn, status, async () => {
    const r = await post('notifications/read-all', {});
    toast(`${r && typeof r.marked === 'number' ? r.marked : 'All'} marked as read`);
    await ctx.refreshBell();
    ctx.rerender();
  }));

  return [
    title('Notifications'),
    h('p', { class: 'hint' }, 'What happened to the requests and shares you take part in: submitted, approved, rejected, revoked, expiring, unhealthy. The newest 100.'),
    h('div', { class: 'actions' }, allBtn),
    countEl,
    status,
    items.length ? list : h('p', { class: 'empty' }, 'No notifications yet. You are notified when someone decides on your requests, or requests your products.'),
    emailSection(contact),
  ];
}

function item(n, onRead) {
  const status = h('div');
  const id = `note-${n.id}`;
  const li = h('li', { class: ['card', 'note', n.read_at ? 'read' : 'unread'] });
  const markBtn = n.read_at ? null : h('button', { type: 'button', class: 'btn', 'aria-describedby': id }, 'Mark as read');
  if (markBtn) {
    markBtn.addEventListener('click', () => act(markBtn, status, async () => {
      await post(`notifications/${encodeURIComponent(n.id)}/read`, {});
      li.classList.replace('unread', 'read');
      li.querySelector('.unread-tag')?.remove();
      markBtn.remove();
      onRead();
      li.querySelector('h2')?.setAttribute('tabindex', '-1');
      li.querySelector('h2')?.focus();
    }));
  }
  append(li, [
    h('h2', { id }, n.read_at ? null : h('span', { class: 'unread-tag' }, 'Unread: '), n.title || n.event),
    h('p', { class: 'muted' }, h('time', { datetime: n.created_at }, fmtTime(n.created_at)), n.event ? ` · ${n.event}` : ''),
    n.body ? h('p', { class: 'note-body' }, n.body) : null,
    h('div', { class: 'actions' }, n.share_id ? link(`/shares/${n.share_id}`, 'Open the share', { 'aria-describedby': id, class: 'btn' }) : null, markBtn),
    status,
  ]);
  return li;
}

function append(el, children) {
  for (const c of children.flat()) if (c) el.append(c);
}

function emailSection(contact) {
  const status = h('div', { 'aria-live': 'polite' });
  const input = h('input', { type: 'email', name: 'email', autocomplete: 'email', value: contact && contact.email ? contact.email : '' });
  const save = h('button', { type: 'submit', class: 'btn' }, 'Save address');
  const remove = contact && contact.email ? h('button', { type: 'button', class: 'btn' }, 'Stop e-mails') : null;
  if (remove) {
    remove.addEventListener('click', () => act(remove, status, async () => {
      await del('contacts/me');
      input.value = '';
      remove.remove();
      mount(status, h('p', { class: 'ok-box' }, 'No more e-mails: notifications stay here.'));
    }));
  }
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'email-h', on: { submit: (e) => {
      e.preventDefault();
      act(save, status, async () => {
        const email = input.value.trim();
        if (!email) {
          input.setAttribute('aria-invalid', 'true');
          mount(status, h('p', { class: 'error', role: 'alert' }, 'Type an address such as name@example.com.'));
          input.focus();
          return;
        }
        input.removeAttribute('aria-invalid');
        await put('contacts/me', { email });
        mount(status, h('p', { class: 'ok-box' }, `Notifications are also e-mailed to ${email} when the server has e-mail set up.`));
      });
    } } },
    h('h2', { id: 'email-h' }, 'E-mail'),
    contact && contact.error ? h('p', { class: 'error' }, errorText(contact.error)) : null,
    field('E-mail address', input, { hint: 'Each notification is also sent here, if your admin has set up e-mail. Leave it to receive them here only.' }),
    h('div', { class: 'actions' }, save, remove),
    status,
  );
  return form;
}
