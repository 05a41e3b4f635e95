// The Events view (#/events): the receivers of the organization's SCIM events (RFC 9967),
// pushed (RFC 8935) or polled (RFC 8936), with their backlog, last delivery and last error.
// Text only, never HTML.

import { h, show, toast, timeEl, badge, table, errorLine, fail, busy, confirmAction, copyField, field } from './dom.js';
import { api, orgPath } from './api.js';
import { register } from './views.js';

function receiverStatus(r) {
  if (r.status === 'failed') return badge('failed', 'off');
  if (r.status === 'retrying') return badge('retrying', 'warn');
  return badge('active', 'ok');
}

async function viewEvents() {
  const data = await api('GET', orgPath('/receivers'));
  const err = errorLine('receiver-error');
  const url = h('input', { id: 'receiver-url', type: 'url', required: true, maxlength: 2000, placeholder: 'https://app.example.com/scim-events' });
  const mode = h('select', { id: 'receiver-mode' },
    h('option', { value: 'push', text: 'push (scimbox POSTs each event)' }),
    h('option', { value: 'poll', text: 'poll (the app fetches them)' }));
  const detail = h('select', { id: 'receiver-detail' },
    h('option', { value: 'notice', text: 'notice (which attributes changed)' }),
    h('option', { value: 'full', text: 'full (the resource itself)' }));
  const add = h('button', { type: 'submit', class: 'primary', text: 'Add receiver' });
  const form = h('form', { class: 'inline-form', novalidate: true },
    field('URL', url), field('Delivery', mode), field('Events', detail), add);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!url.value.trim()) { err.textContent = 'Enter the URL of the receiver (https, or http to this machine).'; url.focus(); return; }
    try {
      const made = await busy(add, () => api('POST', orgPath('/receivers'), { url: url.value.trim(), mode: mode.value, detail: detail.value }), 'Adding…');
      await viewEvents();
      if (made.token) {
        const box = document.getElementById('new-receiver');
        box.replaceChildren(h('div', { class: 'card secret' },
          h('h2', { text: 'Poll receiver added' }),
          h('p', { class: 'warn', text: 'Copy the token now: it is shown only this once. scimbox keeps only a hash.' }),
          copyField('Poll endpoint', made.pollEndpoint, 'receiver-endpoint'),
          copyField('Bearer token', made.token, 'receiver-token')));
        document.getElementById('receiver-token').focus();
      } else {
        toast('Receiver added');
      }
    } catch (ex) { fail(err, ex); url.focus(); }
  });
  const rows = data.receivers.map((r) => {
    const remove = h('button', { type: 'button', class: 'danger', text: 'Remove', 'aria-label': `Remove receiver ${r.url}` });
    remove.addEventListener('click', async () => {
      const ok = await confirmAction({
        title: 'Remove this receiver?',
        consequence: `${r.url} gets no more events, and the ${r.backlog} event${r.backlog === 1 ? '' : 's'} waiting for it ${r.backlog === 1 ? 'is' : 'are'} dropped. This cannot be undone.`,
        confirm: 'Remove receiver',
      });
      if (!ok) return;
      err.textContent = '';
      try {
        await busy(remove, () => api('DELETE', orgPath(`/receivers/${encodeURIComponent(r.id)}`)), 'Removing…');
        toast('Receiver removed');
        await viewEvents();
      } catch (ex) { fail(err, ex); }
    });
    const resume = r.status === 'failed'
      ? h('button', { type: 'button', text: 'Resume', 'aria-label': `Resume receiver ${r.url}` })
      : null;
    if (resume) {
      resume.addEventListener('click', async () => {
        err.textContent = '';
        try {
          await busy(resume, () => api('POST', orgPath(`/receivers/${encodeURIComponent(r.id)}/resume`)), 'Resuming…');
          toast('Receiver resumed');
          await viewEvents();
        } catch (ex) { fail(err, ex); }
      });
    }
    return h('tr', { 'data-receiver': r.id },
      h('td', { class: 'mono', text: r.url }),
      h('td', { text: `${r.mode}, ${r.detail}` }),
      h('td', {}, receiverStatus(r)),
      h('td', { text: String(r.backlog) }),
      h('td', { text: String(r.delivered) }),
      h('td', {}, timeEl(r.lastDelivery)),
      h('td', { text: r.lastError || '—' }),
      h('td', {}, resume, remove));
  });
  show(
    h('h1', { text: 'Events' }),
    h('section', { class: 'card', 'aria-labelledby': 'events-about' },
      h('h2', { id: 'events-about', text: 'Tell your app what changed' }),
      h('p', { class: 'hint', text: 'Every change to a user or Team, from the IdP, this page or the CLI, becomes a signed SCIM event (RFC 9967) for each receiver. Receivers verify the signature with the organization\u2019s key set:' }),
      copyField('JWKS URL', data.jwksUri, 'jwks-uri')),
    h('section', { class: 'card', 'aria-labelledby': 'new-receiver-title' },
      h('h2', { id: 'new-receiver-title', text: 'Add a receiver' }),
      form, err),
    h('div', { id: 'new-receiver', 'aria-live': 'polite' }),
    h('section', { class: 'card', 'aria-labelledby': 'receivers-title' },
      h('h2', { id: 'receivers-title', text: 'Receivers' }),
      rows.length
        ? table(['URL', 'Delivery', 'State', 'Backlog', 'Delivered', 'Last delivery', 'Last error', ''], rows, 'Receivers')
        : h('p', { text: 'No receivers yet.' })),
  );
}

register('events', { label: 'Events', order: 70, list: viewEvents });
