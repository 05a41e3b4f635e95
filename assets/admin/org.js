// The Organization page (SCIM endpoint and switch, IdP set-up, the admin's password) and the
// Tokens page.

import { h, show, toast, timeEl, badge, table, errorLine, fail, busy, confirmAction, copyField, field } from './dom.js';
import { state, api, orgPath } from './api.js';
import { register } from './views.js';
import { rotateControl } from './access.js';

async function refreshOrg() {
  state.org = await api('GET', orgPath());
  const i = state.orgs.findIndex((o) => o.id === state.org.id);
  if (i >= 0) state.orgs[i] = state.org;
  document.dispatchEvent(new Event('scimbox:org-changed'));
}

async function viewOrg() {
  await refreshOrg();
  const org = state.org;
  const err = errorLine('scim-error');
  const toggle = h('input', { type: 'checkbox', role: 'switch', id: 'scim-switch', checked: org.scimEnabled });
  const explain = h('p', { class: 'hint', id: 'scim-explain' });
  const explainText = (on) => (on
    ? 'On: the IdP creates users and Teams and manages Team members. Here you can still set roles, deactivate or delete users, remove members from Teams made before SCIM, and delete those Teams.'
    : 'Off: the SCIM API answers 403 to the IdP, and you can create Teams and add members here.');
  explain.textContent = explainText(org.scimEnabled);
  toggle.addEventListener('change', async () => {
    err.textContent = '';
    const on = toggle.checked;
    if (!on) {
      const ok = await confirmAction({
        title: 'Turn SCIM provisioning off?',
        consequence: `From the next request, the SCIM API answers 403 to every IdP request for ${org.name}: Okta and Entra report failures at once, and nobody is created, updated or deprovisioned until you turn it on again. Entra may quarantine the application if it stays off.`,
        confirm: 'Turn SCIM off',
      });
      if (!ok) { toggle.checked = true; toggle.focus(); return; }
    }
    toggle.disabled = true;
    toggle.setAttribute('aria-busy', 'true');
    try {
      state.org = await api('PUT', orgPath('/scim'), { enabled: on });
      const i = state.orgs.findIndex((o) => o.id === state.org.id);
      if (i >= 0) state.orgs[i] = state.org;
      document.dispatchEvent(new Event('scimbox:org-changed'));
      explain.textContent = explainText(state.org.scimEnabled);
      toast(`SCIM provisioning is ${state.org.scimEnabled ? 'on' : 'off'}`);
    } catch (ex) {
      toggle.checked = !on;
      fail(err, ex);
    } finally {
      toggle.disabled = false;
      toggle.removeAttribute('aria-busy');
      toggle.focus();
    }
  });
  const setup = document.getElementById('tpl-setup').content.cloneNode(true);
  show(
    h('h1', { text: `Organization ${org.name}` }),
    h('section', { class: 'card', 'aria-labelledby': 'scim-title' },
      h('h2', { id: 'scim-title', text: 'SCIM endpoint' }),
      copyField('SCIM base URL', org.scimBaseUrl, 'scim-url'),
      h('p', { class: 'hint', text: 'Okta: paste this as the SCIM connector base URL.' }),
      copyField('Entra Tenant URL', org.entraTenantUrl, 'entra-url'),
      h('p', { class: 'hint' }, 'Entra: use this one. The ', h('code', { text: '?aadOptscim062020' }), ' flag makes Entra send standard SCIM PATCH requests.'),
      h('div', { class: 'switch-row' },
        toggle, h('label', { for: 'scim-switch', text: 'SCIM provisioning' })),
      explain, err,
      h('dl', { class: 'facts' },
        h('dt', { text: 'Organization id' }), h('dd', { class: 'mono', text: org.id }),
        h('dt', { text: 'Users' }), h('dd', { text: String(org.userCount) }),
        h('dt', { text: 'Teams' }), h('dd', { text: String(org.teamCount) }),
        h('dt', { text: 'Created' }), h('dd', {}, timeEl(org.created)))),
    setup,
    passwordCard(),
  );
}

function passwordCard() {
  const err = errorLine('password-error');
  const current = h('input', { id: 'pw-current', type: 'password', autocomplete: 'current-password' });
  const next = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', minlength: 12, 'aria-describedby': 'password-error' });
  const button = h('button', { type: 'submit', text: 'Change password' });
  const form = h('form', { novalidate: true },
    h('label', { for: 'pw-current', text: 'Current password' }), current,
    h('label', { for: 'pw-new', text: 'New password (at least 12 characters)' }), next,
    err, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (next.value.length < 12) { err.textContent = 'The new password is too short: use at least 12 characters.'; next.focus(); return; }
    try {
      state.session = await busy(button, () => api('POST', '/password', { current: current.value, new: next.value }), 'Changing…');
      current.value = ''; next.value = '';
      toast('Password changed; other sessions were signed out');
      current.focus();
    } catch (ex) { fail(err, ex); current.focus(); }
  });
  return h('section', { class: 'card narrow', 'aria-labelledby': 'pw-title' },
    h('h2', { id: 'pw-title', text: `Your account (${state.session.admin})` }), form);
}

async function viewTokens(params, made) {
  const tokens = await api('GET', orgPath('/tokens'));
  const err = errorLine('token-error');
  const name = h('input', { id: 'token-name', required: true, maxlength: 200, placeholder: 'e.g. okta', 'aria-describedby': 'token-error' });
  const days = h('input', { id: 'token-days', type: 'number', min: 1, max: 36500, inputmode: 'numeric', placeholder: 'never', 'aria-describedby': 'token-error' });
  const description = h('input', { id: 'token-description', maxlength: 500, placeholder: 'e.g. Okta production app' });
  const allow = h('input', { id: 'token-allow', class: 'mono', maxlength: 2000, placeholder: '10.0.0.0/8, 192.0.2.7/32', spellcheck: 'false', 'aria-describedby': 'token-error' });
  const shown = h('div', { id: 'new-token', 'aria-live': 'polite' });
  const create = h('button', { type: 'submit', class: 'primary', text: 'Create token' });
  const form = h('form', { class: 'inline-form', novalidate: true },
    field('Name', name), field('Expires in days (optional)', days), field('Description (optional)', description),
    field('Allowed from (optional; any if empty)', allow), create);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!name.value.trim()) { err.textContent = 'Enter a name for the token, so you can recognise it later.'; name.focus(); return; }
    const body = { name: name.value.trim() };
    if (days.value) {
      const n = Number(days.value);
      if (!Number.isInteger(n) || n < 1 || n > 36500) { err.textContent = 'Expiry must be a whole number of days from 1 to 36500, or empty for never.'; days.focus(); return; }
      body.expiresInDays = n;
    }
    if (description.value.trim()) body.description = description.value.trim();
    const cidrs = allow.value.split(/[\s,]+/).filter(Boolean);
    if (cidrs.length) body.allow = cidrs;
    try {
      const token = await busy(create, () => api('POST', orgPath('/tokens'), body), 'Creating…');
      await viewTokens(params, token);
    } catch (ex) { fail(err, ex); name.focus(); }
  });
  const rows = tokens.slice().reverse().map((t) => {
    const revoke = h('button', { type: 'button', class: 'danger', text: 'Revoke', 'aria-label': `Revoke token ${t.name}` });
    revoke.addEventListener('click', async () => {
      const ok = await confirmAction({
        title: `Revoke token ${t.name}?`,
        consequence: 'The IdP that uses it is refused (401) from its next request, until you paste a new token into it.',
        confirm: 'Revoke',
      });
      if (!ok) return;
      try {
        await busy(revoke, () => api('DELETE', orgPath(`/tokens/${encodeURIComponent(t.id)}`)));
        toast(`Token ${t.name} revoked`);
        await viewTokens(params);
      } catch (ex) { fail(err, ex); }
    });
    // Rotation (access.js): a new secret, the old one kept for a grace period.
    const rotate = rotateControl(t, err, (fresh) => viewTokens(params, { name: t.name, token: fresh.token, rotated: true }));
    return h('tr', { 'data-token': t.name },
      h('td', {}, h('div', { class: 'token-name', text: t.name }), t.description ? h('div', { class: 'muted small', text: t.description }) : null),
      h('td', {}, timeEl(t.created)),
      h('td', {}, t.expires ? timeEl(t.expires) : h('span', { class: 'muted', text: 'never' }),
        t.expiringSoon ? h('div', {}, badge('expires soon', 'warn')) : null),
      h('td', {}, timeEl(t.lastUsed), t.lastSource ? h('div', { class: 'muted small mono', text: `from ${t.lastSource}` }) : null),
      h('td', { class: 'mono small', text: t.allow && t.allow.length ? t.allow.join(', ') : 'any' }),
      h('td', {}, badge(t.state, t.state === 'live' ? 'ok' : 'off')),
      h('td', {}, t.state === 'live' ? h('div', { class: 'token-actions' }, rotate, revoke) : ''));
  });
  if (made) {
    shown.append(h('div', { class: 'card secret' },
      h('h2', { text: `Token ${made.name} ${made.rotated ? 'rotated' : 'created'}` }),
      h('p', { class: 'warn', text: made.rotated
        ? 'Copy the new secret now: it is shown only this once. Paste it into the IdP.'
        : 'Copy it now: it is shown only this once. scimbox keeps only a hash.' }),
      copyField('Bearer token', made.token, 'token-value')));
  }
  show(
    h('h1', { text: 'Tokens' }),
    h('section', { class: 'card', 'aria-labelledby': 'new-token-title' },
      h('h2', { id: 'new-token-title', text: 'Create a token' }),
      h('p', { class: 'hint', text: 'The IdP sends this token as its bearer token. Give each IdP its own token, so one can be revoked alone.' }),
      form, err),
    shown,
    h('section', { class: 'card', 'aria-labelledby': 'tokens-title' },
      h('h2', { id: 'tokens-title', text: `Tokens (${tokens.length})` }),
      rows.length ? table(['Name', 'Created', 'Expires', 'Last used', 'Allowed from', 'State', ''], rows, 'Tokens', 'tokens-table')
        : h('p', { text: 'No tokens yet.' })),
  );
  if (made) document.getElementById('token-value').focus();
}

register('org', { label: 'Organization', order: 10, list: viewOrg });
register('tokens', { label: 'Tokens', order: 20, list: viewTokens });
