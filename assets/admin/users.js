// The Users list (search, status filter, pages: all in the URL) and one user's page
// (attributes, Teams, effective roles and where each comes from, actions, history).

import { h, show, toast, timeEl, badge, table, errorLine, fail, busy, confirmAction, pager, field, select } from './dom.js';
import { api, orgPath } from './api.js';
import { register, navigate } from './views.js';
import { historyCard, syncNote } from './activity.js';

const PAGE = 25;

async function viewUsers(params) {
  const q0 = params.get('q') || '';
  const active0 = params.get('active') || 'any';
  const start = Math.max(0, Number(params.get('start')) || 0);
  const err = errorLine('users-error');
  const q = h('input', { id: 'user-q', type: 'search', value: q0, maxlength: 200, placeholder: 'name or email', 'aria-describedby': 'users-error' });
  const active = select('user-active', [['any', 'Any'], ['true', 'Active'], ['false', 'Deactivated']], active0);
  const form = h('form', { class: 'inline-form', role: 'search', novalidate: true },
    field('Search', q), field('Status', active),
    h('button', { type: 'submit', class: 'primary', id: 'user-search', text: 'Search' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    err.textContent = '';
    if (q.value.length > 200) { err.textContent = `The search is too long (${q.value.length} characters): use at most 200.`; q.focus(); return; }
    q.focus();
    navigate('users', null, { q: q.value.trim(), active: active.value === 'any' ? '' : active.value });
  });
  const query = new URLSearchParams({ q: q0, active: active0, start, count: PAGE });
  let data;
  try {
    data = await api('GET', orgPath(`/users?${query}`));
  } catch (ex) {
    if (ex.status === 401) throw ex;
    fail(err, ex);
    data = { total: 0, users: [], start: 0, count: PAGE };
  }
  const rows = data.users.map((u) => h('tr', { 'data-user': u.userName || '' },
    h('td', { class: 'nowrap-cell' }, h('a', { href: `#/users/${encodeURIComponent(u.id)}`, text: u.userName || u.id })),
    h('td', { text: u.displayName || '' }),
    h('td', { class: 'email', text: u.email || '' }),
    h('td', { class: 'nowrap-cell' }, u.active ? badge('active', 'ok') : badge('deactivated', 'off')),
    h('td', { text: u.teams.map((t) => t.name).join(', ') })));
  const go = (s) => navigate('users', null, { q: q0, active: active0 === 'any' ? '' : active0, start: s || '' });
  show(h('h1', { text: 'Users' }),
    h('section', { class: 'card' }, form, err),
    h('section', { class: 'card', id: 'user-results' },
      h('h2', { class: 'sr-only', text: 'Results' }),
      rows.length ? table(['userName', 'Display name', 'Email', 'Status', 'Teams'], rows, 'Users', 'users-table')
        : h('p', { text: q0 || active0 !== 'any' ? 'No user matches.' : 'No users yet: they arrive when the IdP provisions them.' }),
      pager(data.start, data.users.length, data.total, PAGE, go, 'Users pages')));
}

/** One source of a role, as the access model names it
 *  ({type: own|team|implied|organizationOwner|default, value, display}). */
function sourceNode(src) {
  switch (src.type) {
    case 'own': return h('span', { class: 'source', text: 'own role' });
    case 'team': return h('span', { class: 'source' }, 'Team ', h('a', { href: `#/teams/${encodeURIComponent(src.value)}`, text: src.display }));
    case 'implied': return h('span', { class: 'source', text: `implied by a role on Deployment ${src.display}` });
    case 'organizationOwner': return h('span', { class: 'source', text: 'Organization Owner (holds Workspace Owner everywhere)' });
    default: return h('span', { class: 'source muted', text: 'default (every user is a Member)' });
  }
}

function sourcesCell(list) {
  return h('td', { class: 'role-source' }, list.flatMap((x, i) => [i ? '; ' : '', x]));
}

/** Effective roles with their source: the user's own, or the Team that grants it. When the
 *  API explains them (`effective` with `sources`, from the access model) that is shown,
 *  Deployments included; otherwise the sources are worked out from the user's Teams and
 *  their roles. */
function accessView(access, teams, effective) {
  if (effective && effective.organization) {
    const workspaces = effective.workspaces || [];
    const deployments = effective.deployments || [];
    const rows = [
      h('tr', { 'data-scope': 'organization' }, h('td', { text: 'Organization' }),
        h('td', {}, h('strong', { class: 'org-role', text: effective.organization.role })),
        sourcesCell((effective.organization.sources || []).map(sourceNode))),
      ...workspaces.map((w) => h('tr', { 'data-workspace': w.name },
        h('td', { text: `Workspace ${w.name}` }), h('td', { class: 'role', text: w.role }), sourcesCell((w.sources || []).map(sourceNode)))),
    ];
    const depRows = deployments.map((d) => h('tr', { 'data-deployment': d.name },
      h('td', { text: d.name }), h('td', { text: d.workspace ? d.workspace.name : '' }), h('td', { class: 'role', text: d.role }),
      h('td', { class: 'mono small perms', text: d.role === 'DEPLOYMENT_ADMIN' ? 'all' : (d.permissions || []).join(', ') }),
      sourcesCell((d.sources || []).map(sourceNode))));
    return h('div', {}, table(['Scope', 'Role', 'From'], rows, 'Effective roles', 'roles-table'),
      workspaces.length ? null : h('p', { class: 'muted', text: 'No Workspace roles.' }),
      h('h3', { text: 'Deployments' }),
      depRows.length ? table(['Deployment', 'Workspace', 'Role', 'Permissions', 'From'], depRows, 'Deployment roles', 'roles-table')
        : h('p', { class: 'muted', text: 'No Deployment roles.' }));
  }
  const sourcesOf = (kind, role, workspaceId) => {
    const out = [];
    for (const t of teams) {
      const team = sourceNode({ type: 'team', value: t.id, display: t.name });
      if (kind === 'organization' && t.organizationRole === role && role !== 'ORGANIZATION_MEMBER') out.push(team);
      if (kind === 'workspace' && (t.workspaceRoles || []).some((w) => w.id === workspaceId && w.role === role)) out.push(team);
    }
    if (out.length) return out;
    return [sourceNode({ type: kind === 'organization' && role === 'ORGANIZATION_MEMBER' ? 'default' : 'own' })];
  };
  return h('div', {},
    table(['Scope', 'Role', 'From'], [
      h('tr', { 'data-scope': 'organization' },
        h('td', { text: 'Organization' }),
        h('td', {}, h('strong', { class: 'org-role', text: access.organizationRole })),
        sourcesCell(sourcesOf('organization', access.organizationRole))),
      ...access.workspaceRoles.map((w) => h('tr', { 'data-workspace': w.display },
        h('td', { text: `Workspace ${w.display}` }), h('td', { class: 'role', text: w.role }),
        sourcesCell(sourcesOf('workspace', w.role, w.value || w.id)))),
    ], 'Effective roles', 'roles-table'),
    access.workspaceRoles.length ? null : h('p', { class: 'muted', text: 'No Workspace roles.' }));
}

async function viewUser(id) {
  const u = await api('GET', orgPath(`/users/${encodeURIComponent(id)}`));
  // The Teams' roles are needed only to work out sources the API did not send.
  const teamList = u.effective ? { teams: [] } : await api('GET', orgPath('/teams')).catch(() => ({ teams: [] }));
  const myTeams = teamList.teams.filter((t) => u.teams.some((m) => m.id === t.id));
  const err = errorLine('user-error');
  const toggle = h('button', { type: 'button', id: 'user-toggle', text: u.active ? 'Deactivate' : 'Reactivate' });
  toggle.addEventListener('click', async () => {
    err.textContent = '';
    if (u.active) {
      const ok = await confirmAction({
        title: `Deactivate ${u.userName}?`,
        consequence: 'The user can no longer sign in and loses access at once; Team memberships and roles stay for when the user is reactivated. If the IdP still assigns the user, its next update may reactivate it.',
        confirm: 'Deactivate',
      });
      if (!ok) return;
    }
    try {
      await busy(toggle, () => api('PUT', orgPath(`/users/${encodeURIComponent(u.id)}/active`), { active: !u.active }), 'Saving…');
      toast(u.active ? 'User deactivated' : 'User reactivated');
      await viewUser(id);
      document.getElementById('user-toggle').focus();
    } catch (ex) { fail(err, ex); }
  });
  const del = h('button', { type: 'button', class: 'danger', id: 'user-delete', text: 'Delete user' });
  del.addEventListener('click', async () => {
    const ok = await confirmAction({
      title: `Delete ${u.userName}?`,
      consequence: `This cannot be undone: the account, its ${u.teams.length} Team memberships and the roles they give are removed. If the IdP still assigns the user, it creates the account again on its next sync.`,
      confirm: 'Delete user',
    });
    if (!ok) return;
    try {
      await busy(del, () => api('DELETE', orgPath(`/users/${encodeURIComponent(u.id)}`)), 'Deleting…');
      toast('User deleted');
      location.hash = '#/users';
    } catch (ex) { fail(err, ex); }
  });
  const emails = Array.isArray(u.emails) ? u.emails.map((e) => `${e.value}${e.type ? ` (${e.type})` : ''}${e.primary ? ', primary' : ''}`).join('; ') : '';
  const name = u.name && typeof u.name === 'object' ? [u.name.givenName, u.name.familyName].filter(Boolean).join(' ') : '';
  show(
    h('p', {}, h('a', { href: '#/users', text: '← Users' })),
    h('h1', { id: 'user-title', text: u.displayName || u.userName }),
    syncNote(u.sync),
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
      h('h2', { id: 'teams-title', text: `Teams (${u.teams.length})` }),
      u.teams.length ? h('ul', {}, u.teams.map((t) => h('li', {}, h('a', { href: `#/teams/${encodeURIComponent(t.id)}`, text: t.name }))))
        : h('p', { class: 'muted', text: 'In no Team.' })),
    h('section', { class: 'card', 'aria-labelledby': 'access-title', id: 'effective-access' },
      h('h2', { id: 'access-title', text: 'Effective roles' }),
      h('p', { class: 'hint', text: 'The highest of the user\'s own roles and those of every Team it is in; "From" says where each comes from.' }),
      accessView(u.access, myTeams, u.effective)),
    h('section', { class: 'card', 'aria-labelledby': 'actions-title' },
      h('h2', { id: 'actions-title', text: 'Actions' }),
      h('p', { class: 'hint', text: 'If the IdP removed a user but the account remains here (Okta deactivates, it never deletes), delete it here.' }),
      h('div', { class: 'row' }, toggle, del), err),
    historyCard(u.id, `${u.userName}`),
    h('section', { class: 'card', 'aria-labelledby': 'raw-title' },
      h('h2', { id: 'raw-title', text: 'SCIM JSON' }),
      h('pre', { class: 'json', tabindex: 0, text: JSON.stringify(u.scim, null, 2) })),
  );
}

register('users', { order: 30, label: 'Users', list: viewUsers, detail: viewUser });
