// scimbox admin page. Plain JavaScript, no dependencies, nothing loaded from the network.
// Data from the server is only ever put on the page as text (textContent, input values),
// never as HTML, so a user named <img onerror=…> is shown as exactly that.
'use strict';

const state = {
  session: null, // {admin, csrfToken, expires, roles}
  orgs: [],
  org: null, // the selected organization
  notice: '', // a message for the sign-in page (e.g. "your session has expired")
};

// ---- Small DOM helpers ------------------------------------------------------------------

/** Makes an element. `attrs` keys: class, text, on<event>, dataset entries as data-*, others
 *  as attributes (false/null skip). Children: nodes or strings (strings become text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function main() { return document.getElementById('main'); }

function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes);
}

function toast(message) {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.classList.add('visible');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('visible'), 4000);
}

function when(ts) {
  if (!ts) return 'never';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function timeEl(ts) {
  return ts ? h('time', { datetime: ts, title: ts, text: when(ts) }) : h('span', { class: 'muted', text: 'never' });
}

function badge(text, kind) { return h('span', { class: `badge ${kind || ''}`, text }); }

function table(headers, rows, caption) {
  // On a phone each row becomes a card and each cell is labelled with its column (CSS).
  for (const row of rows) {
    [...row.children].forEach((td, i) => { if (headers[i]) td.dataset.label = headers[i]; });
  }
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'sr-only', text: caption }) : null,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', {}, rows)));
}

/** A form's error line: `set(message)` shows it (empty hides it). */
function errorLine(id) {
  const p = h('p', { class: 'error', role: 'alert', id });
  return p;
}

function fail(p, err) {
  p.textContent = err && err.message ? err.message : String(err);
}

/** Copies text; falls back to selecting it when the Clipboard API is unavailable
 *  (plain http on another host is not a secure context). */
async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard');
  } catch {
    if (input) {
      input.focus();
      input.select();
      const ok = document.execCommand && document.execCommand('copy');
      toast(ok ? 'Copied to the clipboard' : 'Selected: press Ctrl+C (⌘C) to copy');
    } else {
      toast('Copying is not available here; select the text and copy it');
    }
  }
}

function copyField(label, value, id) {
  const input = h('input', { id, value, readonly: true, class: 'mono', spellcheck: 'false' });
  return h('div', { class: 'copy-field' },
    h('label', { for: id, text: label }),
    h('div', { class: 'row' }, input,
      h('button', { type: 'button', onclick: () => copy(value, input), 'aria-label': `Copy ${label}`, text: 'Copy' })));
}

/** A button that is off, with the reason shown beside it (and read by screen readers). */
function gated(can, button) {
  if (can && can.allowed) return button;
  const id = `why-${Math.random().toString(36).slice(2)}`;
  button.disabled = true;
  button.setAttribute('aria-describedby', id);
  return h('span', { class: 'gated' }, button, h('span', { class: 'why', id, text: can ? can.reason : '' }));
}

// ---- The API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && state.session) opts.headers['X-CSRF-Token'] = state.session.csrfToken;
  let res;
  try {
    res = await fetch(`/admin/api${path}`, opts);
  } catch {
    throw new ApiError(0, 'network', 'The server did not answer. Is scimbox still running?');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const message = (data && data.message) || `The server answered ${res.status}.`;
    const err = new ApiError(res.status, data && data.error, message);
    if (res.status === 401 && path !== '/login') {
      state.session = null;
      state.notice = err.code === 'session-expired' ? 'Your session has expired; sign in again.' : 'Sign in to continue.';
      location.hash = '#/sign-in';
      render();
    }
    throw err;
  }
  return data;
}

const orgPath = (rest) => `/orgs/${encodeURIComponent(state.org.id)}${rest || ''}`;

/** Views other files add (schemas.js: `#/schemas`), by section name. */
const extraViews = {};

// ---- Routing ------------------------------------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return { section: parts[0] || 'org', id: parts[1] };
}

async function render() {
  const r = route();
  const signedIn = !!state.session;
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('who').hidden = !signedIn;
  if (!signedIn) {
    renderSignIn();
    return;
  }
  if (r.section === 'sign-in') {
    location.hash = '#/org';
    return;
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === r.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const views = { org: viewOrg, tokens: viewTokens, users: r.id ? viewUser : viewUsers, teams: r.id ? viewTeam : viewTeams, activity: viewActivity };
  const view = views[r.section] || extraViews[r.section];
  if (!view) {
    show(h('section', { class: 'card' }, h('h1', { text: 'Not found' }), h('p', { text: 'There is no such page. Pick a section above.' })));
    return;
  }
  if (!state.org) {
    show(h('section', { class: 'card' }, h('h1', { text: 'No organization' }), h('p', { text: 'Create one with: scimbox org create NAME' })));
    return;
  }
  try {
    await view(r.id);
  } catch (err) {
    if (err.status === 401) return;
    show(h('section', { class: 'card' }, h('h1', { text: 'Something went wrong' }), h('p', { class: 'error', role: 'alert', text: err.message })));
  }
  document.title = `${document.querySelector('main h1')?.textContent || 'Admin'} · scimbox`;
}

// ---- Sign-in ------------------------------------------------------------------------------

function renderSignIn() {
  const tpl = document.getElementById('tpl-sign-in').content.cloneNode(true);
  show(tpl);
  document.title = 'Sign in · scimbox';
  const form = document.getElementById('sign-in-form');
  const err = document.getElementById('sign-in-error');
  err.textContent = state.notice;
  const pw = document.getElementById('sign-in-password');
  pw.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = document.getElementById('sign-in-name').value.trim();
    if (!pw.value) { err.textContent = 'Enter the password.'; pw.focus(); return; }
    const button = form.querySelector('button');
    button.disabled = true;
    err.textContent = '';
    try {
      state.session = await api('POST', '/login', { name, password: pw.value });
      state.notice = '';
      await loadOrgs();
      if (!location.hash || location.hash === '#/sign-in') location.hash = '#/org';
      else render();
    } catch (ex) {
      fail(err, ex);
      pw.select();
    } finally {
      button.disabled = false;
    }
  });
}

async function loadOrgs() {
  state.orgs = await api('GET', '/orgs');
  const saved = localStorage.getItem('scimbox.org');
  state.org = state.orgs.find((o) => o.id === saved) || state.orgs[0] || null;
  const select = document.getElementById('org-select');
  select.replaceChildren(...state.orgs.map((o) => h('option', { value: o.id, text: o.name })));
  if (state.org) select.value = state.org.id;
  select.closest('label').hidden = state.orgs.length < 2;
  document.getElementById('admin-name').textContent = state.session.admin;
}

async function refreshOrg() {
  state.org = await api('GET', orgPath());
  const i = state.orgs.findIndex((o) => o.id === state.org.id);
  if (i >= 0) state.orgs[i] = state.org;
}

// ---- Organization -------------------------------------------------------------------------

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
    toggle.disabled = true;
    try {
      state.org = await api('PUT', orgPath('/scim'), { enabled: toggle.checked });
      explain.textContent = explainText(state.org.scimEnabled);
      toast(`SCIM provisioning is ${state.org.scimEnabled ? 'on' : 'off'}`);
    } catch (ex) {
      toggle.checked = !toggle.checked;
      fail(err, ex);
    } finally {
      toggle.disabled = false;
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
  const next = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', minlength: 12 });
  const form = h('form', { novalidate: true },
    h('label', { for: 'pw-current', text: 'Current password' }), current,
    h('label', { for: 'pw-new', text: 'New password (at least 12 characters)' }), next,
    err, h('button', { type: 'submit', text: 'Change password' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (next.value.length < 12) { err.textContent = 'The new password is too short: use at least 12 characters.'; next.focus(); return; }
    try {
      state.session = await api('POST', '/password', { current: current.value, new: next.value });
      current.value = ''; next.value = '';
      toast('Password changed; other sessions were signed out');
    } catch (ex) { fail(err, ex); }
  });
  return h('section', { class: 'card narrow', 'aria-labelledby': 'pw-title' },
    h('h2', { id: 'pw-title', text: `Your account (${state.session.admin})` }), form);
}

// ---- Tokens -------------------------------------------------------------------------------

async function viewTokens() {
  const tokens = await api('GET', orgPath('/tokens'));
  const err = errorLine('token-error');
  const name = h('input', { id: 'token-name', required: true, maxlength: 200, placeholder: 'e.g. okta' });
  const days = h('input', { id: 'token-days', type: 'number', min: 1, max: 36500, inputmode: 'numeric', placeholder: 'never' });
  const shown = h('div', { id: 'new-token', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'token-name', text: 'Name' }), name),
    h('div', {}, h('label', { for: 'token-days', text: 'Expires in days (optional)' }), days),
    h('button', { type: 'submit', class: 'primary', text: 'Create token' }));
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
    try {
      const made = await api('POST', orgPath('/tokens'), body);
      await viewTokens();
      const box = document.getElementById('new-token');
      box.replaceChildren(h('div', { class: 'card secret' },
        h('h2', { text: `Token ${made.name} created` }),
        h('p', { class: 'warn', text: 'Copy it now: it is shown only this once. scimbox keeps only a hash.' }),
        copyField('Bearer token', made.token, 'token-value')));
      document.getElementById('token-value').focus();
    } catch (ex) { fail(err, ex); }
  });
  const rows = tokens.slice().reverse().map((t) => {
    const revoke = h('button', { type: 'button', class: 'danger', text: 'Revoke', 'aria-label': `Revoke token ${t.name}` });
    revoke.addEventListener('click', async () => {
      if (!confirm(`Revoke token "${t.name}"? The IdP using it is refused at once.`)) return;
      try {
        await api('DELETE', orgPath(`/tokens/${encodeURIComponent(t.id)}`));
        toast(`Token ${t.name} revoked`);
        await viewTokens();
      } catch (ex) { fail(err, ex); }
    });
    return h('tr', { 'data-token': t.name },
      h('td', { text: t.name }),
      h('td', {}, timeEl(t.created)),
      h('td', {}, t.expires ? timeEl(t.expires) : h('span', { class: 'muted', text: 'never' })),
      h('td', {}, timeEl(t.lastUsed)),
      h('td', {}, badge(t.state, t.state === 'live' ? 'ok' : 'off')),
      h('td', {}, t.state === 'live' ? revoke : ''));
  });
  show(
    h('h1', { text: 'Tokens' }),
    h('section', { class: 'card', 'aria-labelledby': 'new-token-title' },
      h('h2', { id: 'new-token-title', text: 'Create a token' }),
      h('p', { class: 'hint', text: 'The IdP sends this token as its bearer token. Give each IdP its own token, so one can be revoked alone.' }),
      form, err),
    shown,
    h('section', { class: 'card', 'aria-labelledby': 'tokens-title' },
      h('h2', { id: 'tokens-title', text: 'Tokens' }),
      rows.length ? table(['Name', 'Created', 'Expires', 'Last used', 'State', ''], rows, 'Tokens')
        : h('p', { text: 'No tokens yet.' })),
  );
}

// ---- Users --------------------------------------------------------------------------------

const userQuery = { q: '', active: 'any', start: 0, count: 25 };

async function viewUsers() {
  const params = new URLSearchParams({ q: userQuery.q, active: userQuery.active, start: userQuery.start, count: userQuery.count });
  const err = errorLine('users-error');
  const q = h('input', { id: 'user-q', type: 'search', value: userQuery.q, maxlength: 200, placeholder: 'name or email' });
  const active = h('select', { id: 'user-active' },
    h('option', { value: 'any', text: 'Any' }), h('option', { value: 'true', text: 'Active' }), h('option', { value: 'false', text: 'Deactivated' }));
  active.value = userQuery.active;
  const form = h('form', { class: 'inline-form', role: 'search', novalidate: true },
    h('div', {}, h('label', { for: 'user-q', text: 'Search' }), q),
    h('div', {}, h('label', { for: 'user-active', text: 'Status' }), active),
    h('button', { type: 'submit', class: 'primary', text: 'Search' }));
  const results = h('div', { id: 'user-results' });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (q.value.length > 200) { err.textContent = `The search is too long (${q.value.length} characters): use at most 200.`; return; }
    userQuery.q = q.value.trim();
    userQuery.active = active.value;
    userQuery.start = 0;
    try { await viewUsers(); document.getElementById('user-q').focus(); } catch (ex) { fail(document.getElementById('users-error') || err, ex); }
  });
  let data;
  try {
    data = await api('GET', orgPath(`/users?${params}`));
  } catch (ex) {
    if (ex.status === 401) throw ex;
    fail(err, ex);
    data = { total: 0, users: [], start: 0, count: userQuery.count };
  }
  const rows = data.users.map((u) => h('tr', { 'data-user': u.userName || '' },
    h('td', {}, h('a', { href: `#/users/${encodeURIComponent(u.id)}`, text: u.userName || u.id })),
    h('td', { text: u.displayName || '' }),
    h('td', { text: u.email || '' }),
    h('td', {}, u.active ? badge('active', 'ok') : badge('deactivated', 'off')),
    h('td', { text: u.teams.map((t) => t.name).join(', ') })));
  const first = data.total ? data.start + 1 : 0;
  const last = data.start + data.users.length;
  const prev = h('button', { type: 'button', text: '← Previous', disabled: data.start === 0 });
  const next = h('button', { type: 'button', text: 'Next →', disabled: last >= data.total });
  prev.addEventListener('click', () => { userQuery.start = Math.max(0, userQuery.start - userQuery.count); viewUsers(); });
  next.addEventListener('click', () => { userQuery.start += userQuery.count; viewUsers(); });
  results.append(
    rows.length ? table(['userName', 'Display name', 'Email', 'Status', 'Teams'], rows, 'Users')
      : h('p', { text: userQuery.q || userQuery.active !== 'any' ? 'No user matches.' : 'No users yet: they arrive when the IdP provisions them.' }),
    h('div', { class: 'pager' }, prev, h('span', { text: `${first}–${last} of ${data.total}` }), next));
  show(h('h1', { text: 'Users' }), h('section', { class: 'card' }, form, err), h('section', { class: 'card' }, results));
}

function accessView(access) {
  return h('div', {},
    h('p', {}, 'Organization role: ', h('strong', { class: 'org-role', text: access.organizationRole })),
    access.workspaceRoles.length
      ? table(['Workspace', 'Role'], access.workspaceRoles.map((w) => h('tr', { 'data-workspace': w.display },
        h('td', { text: w.display }), h('td', { class: 'role', text: w.role }))), 'Workspace roles')
      : h('p', { class: 'muted', text: 'No Workspace roles.' }));
}

async function viewUser(id) {
  const u = await api('GET', orgPath(`/users/${encodeURIComponent(id)}`));
  const err = errorLine('user-error');
  const toggle = h('button', { type: 'button', id: 'user-toggle', text: u.active ? 'Deactivate' : 'Reactivate' });
  toggle.addEventListener('click', async () => {
    err.textContent = '';
    try {
      await api('PUT', orgPath(`/users/${encodeURIComponent(u.id)}/active`), { active: !u.active });
      toast(u.active ? 'User deactivated' : 'User reactivated');
      await viewUser(id);
    } catch (ex) { fail(err, ex); }
  });
  const del = h('button', { type: 'button', class: 'danger', id: 'user-delete', text: 'Delete user' });
  del.addEventListener('click', async () => {
    if (!confirm(`Delete ${u.userName}? This cannot be undone. If the IdP still assigns the user, it will create the account again.`)) return;
    try {
      await api('DELETE', orgPath(`/users/${encodeURIComponent(u.id)}`));
      toast('User deleted');
      location.hash = '#/users';
    } catch (ex) { fail(err, ex); }
  });
  const emails = Array.isArray(u.emails) ? u.emails.map((e) => `${e.value}${e.type ? ` (${e.type})` : ''}${e.primary ? ', primary' : ''}`).join('; ') : '';
  const name = u.name && typeof u.name === 'object' ? [u.name.givenName, u.name.familyName].filter(Boolean).join(' ') : '';
  show(
    h('p', {}, h('a', { href: '#/users', text: '← Users' })),
    h('h1', { id: 'user-title', text: u.displayName || u.userName }),
    h('section', { class: 'card', 'aria-labelledby': 'attrs-title' },
      h('h2', { id: 'attrs-title', text: 'Attributes' }),
      h('dl', { class: 'facts' },
        h('dt', { text: 'userName' }), h('dd', { text: u.userName || '' }),
        h('dt', { text: 'Display name' }), h('dd', { text: u.displayName || '' }),
        h('dt', { text: 'Name' }), h('dd', { text: name }),
        h('dt', { text: 'Emails' }), h('dd', { text: emails }),
        h('dt', { text: 'externalId' }), h('dd', { class: 'mono', text: u.externalId || '' }),
        h('dt', { text: 'Status' }), h('dd', {}, u.active ? badge('active', 'ok') : badge('deactivated', 'off')),
        h('dt', { text: 'id' }), h('dd', { class: 'mono', text: u.id }),
        h('dt', { text: 'Created' }), h('dd', {}, timeEl(u.created)),
        h('dt', { text: 'Last modified' }), h('dd', {}, timeEl(u.lastModified)))),
    h('section', { class: 'card', 'aria-labelledby': 'teams-title' },
      h('h2', { id: 'teams-title', text: 'Teams' }),
      u.teams.length ? h('ul', {}, u.teams.map((t) => h('li', {}, h('a', { href: `#/teams/${encodeURIComponent(t.id)}`, text: t.name }))))
        : h('p', { class: 'muted', text: 'In no Team.' })),
    h('section', { class: 'card', 'aria-labelledby': 'access-title', id: 'effective-access' },
      h('h2', { id: 'access-title', text: 'Effective roles' }),
      h('p', { class: 'hint', text: 'The highest of the user\'s own roles and those of every Team it is in.' }),
      accessView(u.access)),
    h('section', { class: 'card', 'aria-labelledby': 'actions-title' },
      h('h2', { id: 'actions-title', text: 'Actions' }),
      h('p', { class: 'hint', text: 'If the IdP removed a user but the account remains here (Okta deactivates, it never deletes), delete it here.' }),
      h('div', { class: 'row' }, toggle, del), err),
    h('section', { class: 'card', 'aria-labelledby': 'raw-title' },
      h('h2', { id: 'raw-title', text: 'SCIM JSON' }),
      h('pre', { class: 'json', tabindex: 0, text: JSON.stringify(u.scim, null, 2) })),
  );
}

// ---- Teams --------------------------------------------------------------------------------

function roleSelect(id, roles, value, withNone) {
  const s = h('select', { id });
  if (withNone) s.append(h('option', { value: '', text: 'No role' }));
  for (const r of roles) s.append(h('option', { value: r, text: r }));
  s.value = value || '';
  return s;
}

async function viewTeams() {
  const [data, workspaces] = await Promise.all([api('GET', orgPath('/teams')), api('GET', orgPath('/workspaces'))]);
  const err = errorLine('team-error');
  const name = h('input', { id: 'team-name', maxlength: 200, disabled: !data.canCreate.allowed });
  const createBtn = h('button', { type: 'submit', class: 'primary', id: 'team-create', text: 'Create Team' });
  const form = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'team-name', text: 'Name' }), name),
    gated(data.canCreate, createBtn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!name.value.trim()) { err.textContent = 'Enter a name for the Team.'; name.focus(); return; }
    try {
      const t = await api('POST', orgPath('/teams'), { name: name.value.trim() });
      toast(`Team ${t.name} created`);
      location.hash = `#/teams/${encodeURIComponent(t.id)}`;
    } catch (ex) { fail(err, ex); }
  });
  const rows = data.teams.map((t) => h('tr', { 'data-team': t.name },
    h('td', {}, h('a', { href: `#/teams/${encodeURIComponent(t.id)}`, text: t.name })),
    h('td', {}, t.scimManaged ? badge('SCIM', 'scim') : badge('local', 'local')),
    h('td', { text: String(t.memberCount) }),
    h('td', { text: t.organizationRole }),
    h('td', { text: t.workspaceRoles.map((w) => `${w.name}: ${w.role}`).join(', ') })));

  const wsErr = errorLine('ws-error');
  const wsName = h('input', { id: 'ws-name', maxlength: 200 });
  const wsForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'ws-name', text: 'Name' }), wsName),
    h('button', { type: 'submit', text: 'Create Workspace' }));
  wsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    wsErr.textContent = '';
    if (!wsName.value.trim()) { wsErr.textContent = 'Enter a name for the Workspace.'; wsName.focus(); return; }
    try {
      await api('POST', orgPath('/workspaces'), { name: wsName.value.trim() });
      toast('Workspace created');
      await viewTeams();
    } catch (ex) { fail(wsErr, ex); }
  });
  const wsRows = workspaces.map((w) => h('tr', { 'data-workspace': w.name },
    h('td', { text: w.name }),
    h('td', { text: w.teams.length ? w.teams.map((t) => `${t.name} (${t.role})`).join(', ') : '—' })));

  show(
    h('h1', { text: 'Teams' }),
    h('section', { class: 'card', 'aria-labelledby': 'new-team-title' },
      h('h2', { id: 'new-team-title', text: 'Create a local Team' }),
      h('p', { class: 'hint', text: data.scimEnabled
        ? 'SCIM provisioning is on: Teams come from the IdP as pushed groups.'
        : 'SCIM provisioning is off: Teams made here are local. Once SCIM is on, they can still get roles, lose members and be deleted.' }),
      form, err),
    h('section', { class: 'card', 'aria-labelledby': 'teams-list-title' },
      h('h2', { id: 'teams-list-title', text: 'Teams' }),
      rows.length ? table(['Name', 'Origin', 'Members', 'Organization role', 'Workspace roles'], rows, 'Teams')
        : h('p', { text: 'No Teams yet: push a group from the IdP, or create one here while SCIM is off.' })),
    h('section', { class: 'card', 'aria-labelledby': 'ws-title' },
      h('h2', { id: 'ws-title', text: 'Workspaces' }),
      h('p', { class: 'hint', text: 'Teams get a role in a Workspace; every member inherits it. Roles are never sent over SCIM, so they are set here whether or not SCIM is on.' }),
      wsRows.length ? table(['Workspace', 'Teams'], wsRows, 'Workspaces') : h('p', { class: 'muted', text: 'No Workspaces yet.' }),
      wsForm, wsErr),
  );
}

async function viewTeam(id) {
  const [t, workspaces] = await Promise.all([api('GET', orgPath(`/teams/${encodeURIComponent(id)}`)), api('GET', orgPath('/workspaces'))]);
  const roles = state.session.roles;
  const err = errorLine('team-detail-error');
  const again = async () => { await viewTeam(t.id); };
  const act = async (fn, message) => {
    err.textContent = '';
    try { await fn(); toast(message); await again(); } catch (ex) { fail(document.getElementById('team-detail-error') || err, ex); }
  };

  const orgRole = roleSelect('org-role', roles.organization, t.organizationRole, false);
  const orgForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'org-role', text: 'Organization role' }), orgRole),
    h('button', { type: 'submit', text: 'Save' }));
  orgForm.addEventListener('submit', (e) => {
    e.preventDefault();
    act(() => api('PUT', orgPath(`/teams/${encodeURIComponent(t.id)}/roles`), { organizationRole: orgRole.value }), 'Organization role saved');
  });

  const wsRows = workspaces.map((w, i) => {
    const current = t.workspaceRoles.find((r) => r.id === w.id);
    const sel = roleSelect(`ws-role-${i}`, roles.workspace, current ? current.role : '', true);
    sel.setAttribute('aria-label', `Role in ${w.name}`);
    const save = h('button', { type: 'button', text: 'Save', 'aria-label': `Save role in ${w.name}` });
    save.addEventListener('click', () => act(() => api('PUT', orgPath(`/teams/${encodeURIComponent(t.id)}/roles`), { workspace: w.id, role: sel.value || null }), `Role in ${w.name} saved`));
    return h('tr', { 'data-workspace': w.name }, h('td', { text: w.name }), h('td', {}, sel), h('td', {}, save));
  });

  const memberRows = t.members.map((m) => {
    const remove = h('button', { type: 'button', text: 'Remove', 'aria-label': `Remove ${m.display}` });
    remove.addEventListener('click', () => act(() => api('DELETE', orgPath(`/teams/${encodeURIComponent(t.id)}/members/${encodeURIComponent(m.id)}`)), 'Member removed'));
    return h('tr', { 'data-member': m.display },
      h('td', {}, h('a', { href: `#/users/${encodeURIComponent(m.id)}`, text: m.display })),
      h('td', {}, gated(t.can.removeMembers, remove)));
  });

  const addInput = h('input', { id: 'member-user', placeholder: 'userName or id', disabled: !t.can.addMembers.allowed });
  const addForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'member-user', text: 'Add a member' }), addInput),
    gated(t.can.addMembers, h('button', { type: 'submit', id: 'member-add', text: 'Add' })));
  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!addInput.value.trim()) { err.textContent = 'Enter the userName or id of the user to add.'; addInput.focus(); return; }
    act(() => api('POST', orgPath(`/teams/${encodeURIComponent(t.id)}/members`), { user: addInput.value.trim() }), 'Member added');
  });

  const del = h('button', { type: 'button', class: 'danger', id: 'team-delete', text: 'Delete Team' });
  del.addEventListener('click', async () => {
    if (!confirm(`Delete Team "${t.name}"? Its members stay; they lose the roles it gave them.`)) return;
    err.textContent = '';
    try {
      await api('DELETE', orgPath(`/teams/${encodeURIComponent(t.id)}`));
      toast('Team deleted');
      location.hash = '#/teams';
    } catch (ex) { fail(err, ex); }
  });

  show(
    h('p', {}, h('a', { href: '#/teams', text: '← Teams' })),
    h('h1', { id: 'team-title', text: t.name }),
    h('p', {}, t.scimManaged ? badge('SCIM-managed: from the IdP', 'scim') : badge('local', 'local'),
      t.description ? h('span', { class: 'muted', text: ` ${t.description}` }) : null),
    err,
    h('section', { class: 'card', 'aria-labelledby': 'roles-title' },
      h('h2', { id: 'roles-title', text: 'Roles' }),
      h('p', { class: 'hint', text: 'Every member inherits these roles. They can always be changed here: IdPs never send roles.' }),
      orgForm,
      wsRows.length ? table(['Workspace', 'Role', ''], wsRows, 'Workspace roles')
        : h('p', { class: 'muted' }, 'No Workspaces yet; create one on the ', h('a', { href: '#/teams', text: 'Teams' }), ' page.')),
    h('section', { class: 'card', 'aria-labelledby': 'members-title' },
      h('h2', { id: 'members-title', text: `Members (${t.members.length})` }),
      memberRows.length ? table(['Member', ''], memberRows, 'Members') : h('p', { class: 'muted', text: 'No members.' }),
      addForm),
    h('section', { class: 'card', 'aria-labelledby': 'danger-title' },
      h('h2', { id: 'danger-title', text: 'Delete' }),
      gated(t.can.delete, del)),
  );
}

// ---- Activity -----------------------------------------------------------------------------

/** Flattens JSON into path → value text, so two versions can be compared line by line. */
function flatten(value, prefix, out) {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v]) : Object.entries(value);
    if (!entries.length) out[prefix || '(value)'] = Array.isArray(value) ? '[]' : '{}';
    for (const [k, v] of entries) {
      const key = Array.isArray(value) ? `${prefix}${k}` : prefix ? `${prefix}.${k}` : k;
      flatten(v, key, out);
    }
  } else if (value !== undefined && value !== null) {
    out[prefix || '(value)'] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

function diffView(before, after) {
  const a = flatten(before, '', {});
  const b = flatten(after, '', {});
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const lines = [];
  for (const k of keys) {
    if (a[k] === b[k]) continue;
    if (k in a) lines.push(h('div', { class: 'del' }, h('span', { class: 'sr-only', text: 'before: ' }), `− ${k}: ${a[k]}`));
    if (k in b) lines.push(h('div', { class: 'add' }, h('span', { class: 'sr-only', text: 'after: ' }), `+ ${k}: ${b[k]}`));
  }
  if (!lines.length) return h('span', { class: 'muted', text: '—' });
  return h('div', { class: 'diff' }, lines);
}

const activity = { type: '', status: '' };

async function viewActivity() {
  const auditBox = h('div', { id: 'audit' });
  const reqBox = h('div', { id: 'requests' });
  const typeSel = h('select', { id: 'audit-type' },
    ['', 'User', 'Team', 'Token', 'Organization', 'Workspace'].map((t) => h('option', { value: t, text: t || 'Everything' })));
  typeSel.value = activity.type;
  typeSel.addEventListener('change', () => { activity.type = typeSel.value; loadAudit(auditBox); });
  const statusSel = h('select', { id: 'request-status' },
    [['', 'All'], ['2', '2xx success'], ['4', '4xx client errors'], ['401', '401 unauthorized'], ['403', '403 forbidden'], ['404', '404 not found'], ['409', '409 conflict'], ['5', '5xx server errors']]
      .map(([v, t]) => h('option', { value: v, text: t })));
  statusSel.value = activity.status;
  statusSel.addEventListener('change', () => { activity.status = statusSel.value; loadRequests(reqBox); });
  const refresh = h('button', { type: 'button', text: 'Refresh', id: 'requests-refresh' });
  refresh.addEventListener('click', () => { loadRequests(reqBox); loadAudit(auditBox); });
  show(
    h('h1', { text: 'Activity' }),
    h('section', { class: 'card', 'aria-labelledby': 'req-title' },
      h('h2', { id: 'req-title', text: 'SCIM requests' }),
      h('p', { class: 'hint', text: 'The latest requests from the IdP, newest first. Authorization headers are never kept and passwords in bodies are replaced by ***.' }),
      h('div', { class: 'inline-form' }, h('div', {}, h('label', { for: 'request-status', text: 'Status' }), statusSel), refresh),
      reqBox),
    h('section', { class: 'card', 'aria-labelledby': 'audit-title' },
      h('h2', { id: 'audit-title', text: 'Audit log' }),
      h('p', { class: 'hint', text: 'Every change, who made it (a token or an admin) and what changed.' }),
      h('div', { class: 'inline-form' }, h('div', {}, h('label', { for: 'audit-type', text: 'Resource' }), typeSel)),
      auditBox),
  );
  await Promise.all([loadRequests(reqBox), loadAudit(auditBox)]);
}

async function loadRequests(box) {
  const params = new URLSearchParams({ status: activity.status, limit: 100 });
  const err = errorLine('requests-error');
  // A slower answer to an earlier filter must not replace the latest one.
  const seq = (loadRequests.seq = (loadRequests.seq || 0) + 1);
  let data;
  try { data = await api('GET', orgPath(`/requests?${params}`)); } catch (ex) { box.replaceChildren(err); fail(err, ex); return; }
  if (seq !== loadRequests.seq) return;
  const rows = data.requests.map((r) => {
    const cls = r.status >= 500 ? 'bad' : r.status >= 400 ? 'warn' : 'ok';
    const details = h('details', {},
      h('summary', { text: 'Bodies' }),
      h('p', { class: 'muted', text: `${r.userAgent || 'no user agent'}${r.query ? ` · ?${r.query}` : ''}` }),
      h('h3', { text: `Request (${r.requestBytes} bytes)` }), h('pre', { class: 'json', text: pretty(r.requestBody) || '(empty)' }),
      h('h3', { text: 'Response' }), h('pre', { class: 'json', text: pretty(r.responseBody) || '(empty)' }),
      droppedNote(r.dropped));
    return h('tr', { 'data-status': r.status },
      h('td', {}, timeEl(r.at)),
      h('td', { class: 'mono', text: r.method }),
      h('td', { class: 'mono path', text: r.path.replace(/^\/scim\/v2\/[^/]+/, '') || '/' }),
      h('td', {}, badge(String(r.status), cls), r.dropped && r.dropped.length ? badge('dropped', 'warn') : null),
      h('td', { text: `${r.latencyMs.toFixed(1)} ms` }),
      h('td', { text: r.token || '—' }),
      h('td', { class: 'mono small', text: r.requestId || '—', title: 'X-Request-Id: also in the response header and the server log' }),
      h('td', {}, details));
  });
  box.replaceChildren(rows.length
    ? table(['When', 'Method', 'Path', 'Status', 'Latency', 'Token', 'Request id', ''], rows, 'SCIM requests')
    : h('p', { class: 'muted', text: activity.status ? 'No request with this status.' : 'No SCIM requests since the server started.' }),
  h('p', { class: 'muted', text: `The server keeps the latest ${data.kept} requests in memory (--request-log-size).` }));
}

/** The attributes a request sent under undeclared extensions (dropped by the server). */
function droppedNote(dropped) {
  if (!dropped || !dropped.length) return null;
  return h('p', { class: 'warn dropped' }, 'Dropped, not declared in this organization (see ',
    h('a', { href: '#/schemas', text: 'Schemas' }), '): ', h('span', { class: 'mono small', text: dropped.join(', ') }));
}

function pretty(text) {
  if (!text) return '';
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

async function loadAudit(box, before) {
  const params = new URLSearchParams({ type: activity.type, limit: 50 });
  if (before) params.set('before', before);
  const err = errorLine('audit-error');
  const seq = (loadAudit.seq = (loadAudit.seq || 0) + 1);
  let data;
  try { data = await api('GET', orgPath(`/audit?${params}`)); } catch (ex) { box.replaceChildren(err); fail(err, ex); return; }
  if (seq !== loadAudit.seq) return;
  const rows = data.entries.map((e) => h('tr', {},
    h('td', {}, timeEl(e.at)),
    h('td', { text: e.actor }),
    h('td', { text: e.action }),
    h('td', {}, h('span', {}, `${e.resourceType} `, h('span', { class: 'mono small', text: e.resourceId }))),
    h('td', {}, diffView(e.before, e.after))));
  let tbody = box.querySelector('tbody');
  if (!before || !tbody) {
    box.replaceChildren(rows.length ? table(['When', 'Who', 'Action', 'Resource', 'Change'], rows, 'Audit log')
      : h('p', { class: 'muted', text: 'Nothing recorded yet.' }));
    tbody = box.querySelector('tbody');
  } else {
    tbody.append(...rows);
  }
  box.querySelector('.more')?.remove();
  if (data.next) {
    const more = h('button', { type: 'button', class: 'more', text: 'Older entries' });
    more.addEventListener('click', () => loadAudit(box, data.next));
    box.append(more);
  }
}

// ---- Start --------------------------------------------------------------------------------

async function start() {
  document.getElementById('org-select').addEventListener('change', (e) => {
    state.org = state.orgs.find((o) => o.id === e.target.value) || state.org;
    localStorage.setItem('scimbox.org', state.org.id);
    userQuery.start = 0;
    render();
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    try { await api('POST', '/logout'); } catch { /* signed out either way */ }
    state.session = null;
    state.notice = 'You have signed out.';
    location.hash = '#/sign-in';
    render();
  });
  window.addEventListener('hashchange', () => { render(); main().focus({ preventScroll: true }); });
  try {
    state.session = await api('GET', '/session');
    await loadOrgs();
  } catch (ex) {
    if (ex.status !== 401) state.notice = ex.message;
    if (ex.status === 401 && ex.code === 'unauthenticated') state.notice = '';
  }
  render();
}

document.addEventListener('DOMContentLoaded', start);
