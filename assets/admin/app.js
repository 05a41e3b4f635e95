// scimbox admin page: routing, sign-in and start-up. Plain JavaScript modules, no
// dependencies, nothing loaded from the network. Each view lives in a file of its own and
// registers itself (see views.js); this file only routes to them.

import { h, main, show, loading, fail } from './dom.js';
import { state, api, whenSignedOut } from './api.js';
import { views, route, takeFocus } from './views.js';
import './org.js';
import './users.js';
import './teams.js';
import './activity.js';
import './clients.js';
import './access.js';
import './events.js';
import './schemas.js';

function renderNav(section) {
  const nav = document.getElementById('nav');
  nav.replaceChildren(...[...views.entries()].filter(([, v]) => v.label)
    .sort(([, a], [, b]) => (a.order || 100) - (b.order || 100)).map(([name, v]) => h('a', {
    href: `#/${name}`, 'data-section': name, text: v.label, 'aria-current': name === section ? 'page' : null,
  })));
}

/** While SCIM is off the IdP's requests fail: every page says so. */
function renderBanner() {
  const banner = document.getElementById('scim-banner');
  const off = state.session && state.org && !state.org.scimEnabled;
  banner.hidden = !off;
  if (off) {
    banner.replaceChildren(h('strong', { text: 'SCIM provisioning is off. ' }),
      `The SCIM API answers 403 to every IdP request for ${state.org.name}, so nothing is provisioned or deprovisioned. `,
      h('a', { href: '#/org', text: 'Turn it on' }));
  }
}

let renders = 0;
export async function render() {
  const r = route();
  const signedIn = !!state.session;
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('who').hidden = !signedIn;
  renderBanner();
  if (!signedIn) {
    renderSignIn();
    return;
  }
  if (r.section === 'sign-in') {
    location.hash = '#/org';
    return;
  }
  renderNav(r.section);
  const view = views.get(r.section);
  if (!view) {
    show(h('section', { class: 'card' }, h('h1', { text: 'Not found' }), h('p', { text: 'There is no such page. Pick a section above.' })));
    return;
  }
  if (!state.org) {
    show(h('section', { class: 'card' }, h('h1', { text: 'No organization' }), h('p', { text: 'Create one with: scimbox org create NAME' })));
    return;
  }
  const focusId = takeFocus();
  const mine = ++renders;
  if (!focusId) loading();
  try {
    await (r.id && view.detail ? view.detail(r.id, r.params) : view.list(r.params));
  } catch (err) {
    if (err.status === 401) return;
    if (mine !== renders) return;
    const p = h('p', { class: 'error', role: 'alert' });
    fail(p, err);
    show(h('section', { class: 'card' }, h('h1', { text: 'Something went wrong' }), p));
  }
  if (mine !== renders) return;
  renderBanner();
  document.title = `${document.querySelector('main h1')?.textContent || 'Admin'} · scimbox`;
  const again = focusId && document.getElementById(focusId);
  if (again) again.focus();
  else if (!focusId) main().focus({ preventScroll: true });
}

// ---- Sign-in ------------------------------------------------------------------------------

function renderSignIn() {
  const tpl = document.getElementById('tpl-sign-in').content.cloneNode(true);
  show(tpl);
  document.title = 'Sign in · scimbox';
  const form = document.getElementById('sign-in-form');
  const err = document.getElementById('sign-in-error');
  err.textContent = state.notice;
  const name = document.getElementById('sign-in-name');
  const pw = document.getElementById('sign-in-password');
  // The first empty field: typing goes where it is needed.
  (name.value ? pw : name).focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!pw.value) { err.textContent = 'Enter the password.'; pw.focus(); return; }
    const button = form.querySelector('button');
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    err.textContent = '';
    try {
      state.session = await api('POST', '/login', { name: name.value.trim(), password: pw.value });
      state.notice = '';
      await loadOrgs();
      if (!location.hash || location.hash === '#/sign-in') location.hash = '#/org';
      else render();
    } catch (ex) {
      fail(err, ex);
      pw.select();
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
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

// ---- Start --------------------------------------------------------------------------------

async function start() {
  whenSignedOut(render);
  document.addEventListener('scimbox:org-changed', renderBanner);
  document.getElementById('org-select').addEventListener('change', (e) => {
    state.org = state.orgs.find((o) => o.id === e.target.value) || state.org;
    localStorage.setItem('scimbox.org', state.org.id);
    render();
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    try { await api('POST', '/logout'); } catch { /* signed out either way */ }
    state.session = null;
    state.notice = 'You have signed out.';
    location.hash = '#/sign-in';
    render();
  });
  window.addEventListener('hashchange', () => { render(); });
  try {
    state.session = await api('GET', '/session');
    await loadOrgs();
  } catch (ex) {
    if (ex.status !== 401) state.notice = ex.message;
    if (ex.status === 401 && ex.code === 'unauthenticated') state.notice = '';
  }
  render();
}

start();
