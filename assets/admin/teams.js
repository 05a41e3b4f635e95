// The Teams list and Workspaces, and one Team's page: roles (each row saved on its own;
// Deployment roles from access.js), members (paged, searchable, sortable, with userName), history.

import { h, show, toast, badge, table, errorLine, fail, busy, confirmAction, gated, pager, field, select, roleSelect } from './dom.js';
import { state, api, orgPath } from './api.js';
import { register, navigate } from './views.js';
import { historyCard, syncNote } from './activity.js';
import { teamDeploymentCard } from './access.js';

const PAGE = 25;

async function viewTeams(params) {
  const q0 = params.get('q') || '';
  const start = Math.max(0, Number(params.get('start')) || 0);
  const [data, workspaces] = await Promise.all([api('GET', orgPath('/teams')), api('GET', orgPath('/workspaces'))]);
  const err = errorLine('team-error');
  const name = h('input', { id: 'team-name', maxlength: 200, disabled: !data.canCreate.allowed, 'aria-describedby': 'team-error' });
  const createBtn = h('button', { type: 'submit', class: 'primary', id: 'team-create', text: 'Create Team' });
  const form = h('form', { class: 'inline-form', novalidate: true }, field('Name', name), gated(data.canCreate, createBtn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!name.value.trim()) { err.textContent = 'Enter a name for the Team.'; name.focus(); return; }
    try {
      const t = await busy(createBtn, () => api('POST', orgPath('/teams'), { name: name.value.trim() }), 'Creating…');
      toast(`Team ${t.name} created`);
      location.hash = `#/teams/${encodeURIComponent(t.id)}`;
    } catch (ex) { fail(err, ex); name.focus(); }
  });
  const needle = q0.toLowerCase();
  const matching = data.teams.filter((t) => !needle || t.name.toLowerCase().includes(needle));
  const rows = matching.slice(start, start + PAGE).map((t) => h('tr', { 'data-team': t.name },
    h('td', {}, h('a', { href: `#/teams/${encodeURIComponent(t.id)}`, text: t.name })),
    h('td', {}, t.scimManaged ? badge('SCIM', 'scim') : badge('local', 'local')),
    h('td', { class: 'num', text: String(t.memberCount) }),
    h('td', { text: t.organizationRole }),
    h('td', { text: t.workspaceRoles.map((w) => `${w.name}: ${w.role}`).join(', ') })));
  const q = h('input', { id: 'teams-q', type: 'search', value: q0, maxlength: 200, placeholder: 'Team name' });
  const search = h('form', { class: 'inline-form', role: 'search', novalidate: true }, field('Search Teams', q),
    h('button', { type: 'submit', text: 'Search' }));
  search.addEventListener('submit', (e) => { e.preventDefault(); q.focus(); navigate('teams', null, { q: q.value.trim() }); });

  const wsErr = errorLine('ws-error');
  const wsName = h('input', { id: 'ws-name', maxlength: 200, 'aria-describedby': 'ws-error' });
  const wsBtn = h('button', { type: 'submit', text: 'Create Workspace' });
  const wsForm = h('form', { class: 'inline-form', novalidate: true }, field('Name', wsName), wsBtn);
  wsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    wsErr.textContent = '';
    if (!wsName.value.trim()) { wsErr.textContent = 'Enter a name for the Workspace.'; wsName.focus(); return; }
    try {
      await busy(wsBtn, () => api('POST', orgPath('/workspaces'), { name: wsName.value.trim() }), 'Creating…');
      toast('Workspace created');
      await viewTeams(params);
      document.getElementById('ws-name').focus();
    } catch (ex) { fail(wsErr, ex); wsName.focus(); }
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
      h('h2', { id: 'teams-list-title', text: `Teams (${data.teams.length})` }),
      search,
      rows.length ? table(['Name', 'Origin', 'Members', 'Organization role', 'Workspace roles'], rows, 'Teams')
        : h('p', { text: q0 ? 'No Team matches.' : 'No Teams yet: push a group from the IdP, or create one here while SCIM is off.' }),
      pager(start, rows.length, matching.length, PAGE, (s) => navigate('teams', null, { q: q0, start: s || '' }), 'Teams pages')),
    h('section', { class: 'card', 'aria-labelledby': 'ws-title' },
      h('h2', { id: 'ws-title', text: `Workspaces (${workspaces.length})` }),
      h('p', { class: 'hint', text: 'Teams get a role in a Workspace; every member inherits it. Roles are never sent over SCIM, so they are set here whether or not SCIM is on.' }),
      wsRows.length ? table(['Workspace', 'Teams'], wsRows, 'Workspaces') : h('p', { class: 'muted', text: 'No Workspaces yet.' }),
      wsForm, wsErr),
  );
}

const SORTS = [['name', 'userName'], ['display', 'Display name'], ['status', 'Status']];

function memberList(t, params, err) {
  const q0 = params.get('mq') || '';
  const sort = SORTS.some(([k]) => k === params.get('sort')) ? params.get('sort') : 'name';
  const start = Math.max(0, Number(params.get('mstart')) || 0);
  const go = (over) => navigate('teams', t.id, { mq: q0, sort: sort === 'name' ? '' : sort, ...over });
  const needle = q0.toLowerCase();
  const matching = t.members.filter((m) => !needle
    || (m.userName || '').toLowerCase().includes(needle) || (m.displayName || '').toLowerCase().includes(needle) || m.id === q0);
  const key = { name: (m) => (m.userName || '').toLowerCase(), display: (m) => (m.displayName || m.userName || '').toLowerCase(), status: (m) => (m.active ? '0' : '1') + (m.userName || '') }[sort];
  const tie = (m) => (m.userName || '').toLowerCase();
  matching.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : tie(a) < tie(b) ? -1 : tie(a) > tie(b) ? 1 : 0));
  const page = matching.slice(start, start + PAGE);
  const canRemove = t.can.removeMembers.allowed;
  const rows = page.map((m) => {
    const cells = [
      h('td', { class: 'nowrap-cell' }, h('a', { href: `#/users/${encodeURIComponent(m.id)}`, text: m.userName || m.id })),
      h('td', { text: m.displayName || '' }),
      h('td', { class: 'nowrap-cell' }, m.active === false ? badge('deactivated', 'off') : badge('active', 'ok')),
    ];
    if (canRemove) {
      const remove = h('button', { type: 'button', text: 'Remove', 'aria-label': `Remove ${m.userName || m.display}` });
      remove.addEventListener('click', async () => {
        err.textContent = '';
        try {
          await busy(remove, () => api('DELETE', orgPath(`/teams/${encodeURIComponent(t.id)}/members/${encodeURIComponent(m.id)}`)), 'Removing…');
          toast(`${m.userName} removed`);
          t.members = t.members.filter((x) => x.id !== m.id);
          document.getElementById('members-box').replaceWith(memberList(t, params, err));
          document.getElementById('members-q').focus();
        } catch (ex) { fail(err, ex); }
      });
      cells.push(h('td', {}, remove));
    }
    return h('tr', { 'data-member': m.display, 'data-username': m.userName || '' }, cells);
  });
  const q = h('input', { id: 'members-q', type: 'search', value: q0, maxlength: 200, placeholder: 'userName or name' });
  const sortSel = select('members-sort', SORTS, sort);
  const form = h('form', { class: 'inline-form', role: 'search', novalidate: true },
    field('Search members', q), field('Sort by', sortSel), h('button', { type: 'submit', text: 'Search' }));
  form.addEventListener('submit', (e) => { e.preventDefault(); q.focus(); navigate('teams', t.id, { mq: q.value.trim(), sort: sortSel.value === 'name' ? '' : sortSel.value }); });
  sortSel.addEventListener('change', () => navigate('teams', t.id, { mq: q0, sort: sortSel.value === 'name' ? '' : sortSel.value }));
  return h('div', { id: 'members-box' },
    form,
    canRemove ? null : h('p', { class: 'why', id: 'members-why', text: t.can.removeMembers.reason }),
    rows.length ? table(canRemove ? ['userName', 'Display name', 'Status', ''] : ['userName', 'Display name', 'Status'], rows, 'Members', 'members-table')
      : h('p', { class: 'muted', text: q0 ? 'No member matches.' : 'No members.' }),
    pager(start, page.length, matching.length, PAGE, (s) => go({ mstart: s || '' }), 'Member pages'));
}

async function viewTeam(id, params) {
  const [t, workspaces] = await Promise.all([api('GET', orgPath(`/teams/${encodeURIComponent(id)}`)), api('GET', orgPath('/workspaces'))]);
  const roles = state.session.roles;
  const err = errorLine('team-detail-error');
  const rolesPath = orgPath(`/teams/${encodeURIComponent(t.id)}/roles`);

  // Each role row saves alone and redraws nothing else, so choices in other rows stay.
  let savedOrgRole = t.organizationRole;
  const orgRole = roleSelect('org-role', roles.organization, t.organizationRole, false);
  const orgSave = h('button', { type: 'submit', id: 'org-role-save', text: 'Save' });
  const orgErr = errorLine('org-role-error');
  orgRole.setAttribute('aria-describedby', 'org-role-error');
  const orgForm = h('form', { class: 'inline-form', novalidate: true }, field('Organization role', orgRole), orgSave, orgErr);
  orgForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    orgErr.textContent = '';
    const rank = (r) => roles.organization.indexOf(r);
    if (rank(orgRole.value) > rank(savedOrgRole)) {
      const ok = await confirmAction({
        title: `Give ${t.name} the role ${orgRole.value}?`,
        consequence: `All ${t.memberCount} members of ${t.name}, and everyone the IdP adds to it later, get ${orgRole.value} in the organization at once.`,
        confirm: `Raise to ${orgRole.value}`,
      });
      if (!ok) { orgRole.focus(); return; }
    }
    try {
      await busy(orgSave, () => api('PUT', rolesPath, { organizationRole: orgRole.value }), 'Saving…');
      savedOrgRole = orgRole.value;
      toast('Organization role saved');
    } catch (ex) { fail(orgErr, ex); }
    orgRole.focus();
  });

  const wsRows = workspaces.map((w, i) => {
    const current = t.workspaceRoles.find((r) => r.id === w.id);
    const sel = roleSelect(`ws-role-${i}`, roles.workspace, current ? current.role : '', true);
    sel.setAttribute('aria-label', `Role in ${w.name}`);
    const rowErr = h('span', { class: 'error', role: 'alert', id: `ws-role-error-${i}` });
    sel.setAttribute('aria-describedby', rowErr.id);
    const save = h('button', { type: 'button', text: 'Save', 'aria-label': `Save role in ${w.name}` });
    save.addEventListener('click', async () => {
      rowErr.textContent = '';
      try {
        await busy(save, () => api('PUT', rolesPath, { workspace: w.id, role: sel.value || null }), 'Saving…');
        toast(`Role in ${w.name} saved`);
      } catch (ex) { fail(rowErr, ex); }
      sel.focus();
    });
    return h('tr', { 'data-workspace': w.name }, h('td', { text: w.name }), h('td', {}, sel, rowErr), h('td', {}, save));
  });

  const addInput = h('input', { id: 'member-user', placeholder: 'userName or id', disabled: !t.can.addMembers.allowed, 'aria-describedby': 'member-error' });
  const addErr = errorLine('member-error');
  const addBtn = h('button', { type: 'submit', id: 'member-add', text: 'Add' });
  const addForm = h('form', { class: 'inline-form', novalidate: true }, field('Add a member', addInput), gated(t.can.addMembers, addBtn), addErr);
  addForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    addErr.textContent = '';
    if (!addInput.value.trim()) { addErr.textContent = 'Enter the userName or id of the user to add.'; addInput.focus(); return; }
    try {
      await busy(addBtn, () => api('POST', orgPath(`/teams/${encodeURIComponent(t.id)}/members`), { user: addInput.value.trim() }), 'Adding…');
      toast('Member added');
      await viewTeam(t.id, params);
      document.getElementById('member-user').focus();
    } catch (ex) { fail(addErr, ex); addInput.focus(); }
  });

  const del = h('button', { type: 'button', class: 'danger', id: 'team-delete', text: 'Delete Team' });
  del.addEventListener('click', async () => {
    const ok = await confirmAction({
      title: `Delete Team ${t.name}?`,
      consequence: `Its ${t.memberCount} members stay, but lose the roles it gave them (${t.organizationRole}${t.workspaceRoles.length ? ` and ${t.workspaceRoles.length} Workspace roles` : ''}). This cannot be undone.`,
      confirm: 'Delete Team',
    });
    if (!ok) return;
    err.textContent = '';
    try {
      await busy(del, () => api('DELETE', orgPath(`/teams/${encodeURIComponent(t.id)}`)), 'Deleting…');
      toast('Team deleted');
      location.hash = '#/teams';
    } catch (ex) { fail(err, ex); }
  });

  show(
    h('p', {}, h('a', { href: '#/teams', text: '← Teams' })),
    h('h1', { id: 'team-title', text: t.name }),
    h('p', {}, t.scimManaged ? badge('SCIM-managed: from the IdP', 'scim') : badge('local', 'local'),
      t.description ? h('span', { class: 'muted', text: ` ${t.description}` }) : null),
    syncNote(t.sync),
    err,
    h('section', { class: 'card', 'aria-labelledby': 'roles-title' },
      h('h2', { id: 'roles-title', text: 'Roles' }),
      h('p', { class: 'hint', text: 'Every member inherits these roles. They can always be changed here: IdPs never send roles.' }),
      orgForm,
      wsRows.length ? table(['Workspace', 'Role', ''], wsRows, 'Workspace roles')
        : h('p', { class: 'muted' }, 'No Workspaces yet; create one on the ', h('a', { href: '#/teams', text: 'Teams' }), ' page.')),
    teamDeploymentCard(t.id),
    h('section', { class: 'card', 'aria-labelledby': 'members-title' },
      h('h2', { id: 'members-title', text: `Members (${t.members.length})` }),
      memberList(t, params, err),
      addForm),
    historyCard(t.id, t.name),
    h('section', { class: 'card', 'aria-labelledby': 'danger-title' },
      h('h2', { id: 'danger-title', text: 'Delete' }),
      gated(t.can.delete, del)),
  );
}

register('teams', { order: 40, label: 'Teams', list: viewTeams, detail: viewTeam });
