// scimbox admin page: the access model. Deployments, custom Deployment roles, role rules for
// pushed Teams, each user's effective access with where every role comes from, a Team's
// Deployment roles, token rotation, and the warnings (no active Organization Owner, tokens
// expiring soon). Loaded after app.js and built from its helpers (h, api, orgPath, show,
// table, badge, toast, fail, errorLine, copyField, timeEl); text only, never HTML.
'use strict';

// ---- Effective access, explained ----------------------------------------------------------

function sourceNode(s) {
  switch (s.type) {
    case 'own': return h('span', { class: 'source', text: 'own role' });
    case 'team': return h('span', { class: 'source' }, 'Team ', h('a', { href: `#/teams/${encodeURIComponent(s.value)}`, text: s.display }));
    case 'implied': return h('span', { class: 'source', text: `implied by a role on Deployment ${s.display}` });
    case 'organizationOwner': return h('span', { class: 'source', text: 'Organization Owner (holds Workspace Owner everywhere)' });
    default: return h('span', { class: 'source muted', text: 'default (every user is a Member)' });
  }
}

function sourcesCell(sources) {
  const td = h('td', { class: 'sources' });
  (sources || []).forEach((s, i) => { if (i) td.append('; '); td.append(sourceNode(s)); });
  return td;
}

/** The user page's "Effective roles" card body: one row per level with its sources. */
function effectiveAccessView(e) {
  const org = e.organization;
  const ws = e.workspaces.map((w) => h('tr', { 'data-workspace': w.name },
    h('td', { text: w.name }), h('td', { class: 'role', text: w.role }), sourcesCell(w.sources)));
  const deps = e.deployments.map((d) => h('tr', { 'data-deployment': d.name },
    h('td', { text: d.name }), h('td', { text: d.workspace.name }), h('td', { class: 'role', text: d.role }),
    h('td', { class: 'mono', text: d.role === 'DEPLOYMENT_ADMIN' ? 'all' : d.permissions.join(', ') }),
    sourcesCell(d.sources)));
  const orgFrom = h('span', { class: 'org-sources' }, ' from ');
  org.sources.forEach((s, i) => { if (i) orgFrom.append('; '); orgFrom.append(sourceNode(s)); });
  return h('div', {},
    h('p', {}, 'Organization role: ', h('strong', { class: 'org-role', text: org.role }), orgFrom),
    ws.length ? table(['Workspace', 'Role', 'From'], ws, 'Workspace roles') : h('p', { class: 'muted', text: 'No Workspace roles.' }),
    deps.length ? table(['Deployment', 'Workspace', 'Role', 'Permissions', 'From'], deps, 'Deployment roles') : h('p', { class: 'muted', text: 'No Deployment roles.' }));
}

// ---- Warnings -----------------------------------------------------------------------------

function accessWarnings(data) {
  const out = [];
  const o = data.owner;
  if (o && !o.activeOwner && o.flag) {
    out.push(h('section', { class: 'card warn-card', role: 'alert', id: 'owner-warning' },
      h('h2', { text: 'No active Organization Owner' }),
      h('p', {}, `The last active ORGANIZATION_OWNER went away on `, timeEl(o.flag.at),
        ` (${o.flag.change || 'a change'}, by ${o.flag.actor}). The IdP decides who is in the organization, so scimbox allowed it; give someone ORGANIZATION_OWNER again (a Team\'s role or a user\'s own).`)));
  }
  if (data.expiringTokens && data.expiringTokens.length) {
    out.push(h('section', { class: 'card warn-card', role: 'status', id: 'expiry-warning' },
      h('h2', { text: `Tokens expiring within ${data.expiryWarningDays} days` }),
      h('ul', {}, data.expiringTokens.map((t) => h('li', { 'data-token': t.name }, `${t.name}: expires `, timeEl(t.expires), '. Rotate it or create a new one on the ', h('a', { href: '#/tokens', text: 'Tokens' }), ' page.')))));
  }
  return out;
}

// ---- Token rotation (a hook on the Tokens page) -------------------------------------------

/** A Rotate button with a grace period choice; shows the new secret once. */
function rotateControl(t, err) {
  const grace = h('select', { 'aria-label': `Grace period for the old secret of ${t.name}` },
    h('option', { value: '0', text: 'old secret stops now' }),
    h('option', { value: '15', text: 'old secret 15 more min' }),
    h('option', { value: '60', text: 'old secret 1 more hour' }),
    h('option', { value: '1440', text: 'old secret 24 more hours' }));
  const btn = h('button', { type: 'button', text: 'Rotate', 'aria-label': `Rotate token ${t.name}` });
  btn.addEventListener('click', async () => {
    const minutes = Number(grace.value);
    if (!confirm(`Give token "${t.name}" a new secret? ${minutes ? `The old one keeps working for ${minutes} minutes.` : 'The old one is refused from the next request.'}`)) return;
    try {
      const made = await api('POST', orgPath(`/tokens/${encodeURIComponent(t.id)}/rotate`), { graceMinutes: minutes });
      await viewTokens();
      const box = document.getElementById('new-token');
      box.replaceChildren(h('div', { class: 'card secret' },
        h('h2', { text: `Token ${t.name} rotated` }),
        h('p', { class: 'warn', text: 'Copy the new secret now: it is shown only this once. Paste it into the IdP.' }),
        copyField('Bearer token', made.token, 'token-value')));
      document.getElementById('token-value').focus();
    } catch (ex) { fail(err, ex); }
  });
  return h('span', { class: 'row' }, grace, btn);
}

/** Extra cells of a token row: description, last source, an expiry badge. */
function tokenCells(t) {
  return [
    h('td', { text: t.description || '' }),
    h('td', { class: 'mono', text: t.lastSource || '' }),
    h('td', {}, t.expiringSoon ? badge('expires soon', 'warn') : '', t.allow && t.allow.length ? h('span', { class: 'muted mono', text: ` from ${t.allow.join(', ')}` }) : ''),
  ];
}

// ---- A Team's Deployment roles (a hook on the Team page) ---------------------------------

function deploymentRoleSelect(id, customs, value) {
  const s = h('select', { id });
  s.append(h('option', { value: '', text: 'No role' }));
  s.append(h('option', { value: 'DEPLOYMENT_ADMIN', text: 'DEPLOYMENT_ADMIN' }));
  for (const c of customs) s.append(h('option', { value: c.name, text: `${c.name} (custom)` }));
  s.value = value || '';
  return s;
}

/** A card for the Team page: its Deployment roles and the rule that gave its template. */
function teamDeploymentCard(teamId) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'dep-roles-title', id: 'team-deployments' },
    h('h2', { id: 'dep-roles-title', text: 'Deployment roles' }), h('p', { class: 'muted', text: 'Loading…' }));
  const fill = async () => {
    const [ta, data] = await Promise.all([
      api('GET', orgPath(`/teams/${encodeURIComponent(teamId)}/access`)), api('GET', orgPath('/access'))]);
    const err = errorLine('dep-role-error');
    const rows = data.deployments.map((d, i) => {
      const current = ta.deploymentRoles.find((g) => g.deployment.id === d.id);
      const sel = deploymentRoleSelect(`dep-role-${i}`, data.deploymentRoles, current ? current.role : '');
      sel.setAttribute('aria-label', `Role on ${d.name}`);
      const save = h('button', { type: 'button', text: 'Save', 'aria-label': `Save role on ${d.name}` });
      save.addEventListener('click', async () => {
        err.textContent = '';
        try {
          await api('PUT', orgPath(`/teams/${encodeURIComponent(teamId)}/deployment-roles`), { deployment: d.id, role: sel.value || null });
          toast(`Role on ${d.name} saved`);
          await fill();
        } catch (ex) { fail(err, ex); }
      });
      return h('tr', { 'data-deployment': d.name }, h('td', { text: d.name }), h('td', { text: d.workspace.name }), h('td', {}, sel), h('td', {}, save));
    });
    card.replaceChildren(
      h('h2', { id: 'dep-roles-title', text: 'Deployment roles' }),
      ta.rule ? h('p', { class: 'rule-origin' }, 'Template given at creation by rule ', h('strong', { text: ta.rule.name || ta.rule.id }), '.') : null,
      h('p', { class: 'hint', text: 'Members without a role in a Deployment\'s Workspace get WORKSPACE_ACCESSOR there.' }),
      rows.length ? table(['Deployment', 'Workspace', 'Role', ''], rows, 'Deployment roles') : h('p', { class: 'muted', text: 'No Deployments yet; create them on the Access page.' }),
      err);
  };
  fill().catch((ex) => card.append(h('p', { class: 'error', text: ex.message })));
  return card;
}

// ---- The Access page ----------------------------------------------------------------------

function templateText(t) {
  if (!t) return '';
  const parts = [];
  if (t.organizationRole) parts.push(t.organizationRole);
  for (const w of t.workspaceRoles || []) parts.push(`${w.role} in ${w.workspace}`);
  for (const d of t.deploymentRoles || []) parts.push(`${d.role} on ${d.deployment}`);
  return parts.join(', ');
}

async function viewAccess() {
  const [data, workspaces] = await Promise.all([api('GET', orgPath('/access')), api('GET', orgPath('/workspaces'))]);
  const roles = state.session.roles;
  const again = () => viewAccess();
  const act = async (err, fn, message) => {
    err.textContent = '';
    try { await fn(); toast(message); await again(); } catch (ex) { fail(err, ex); }
  };

  // Deployments
  const depErr = errorLine('deployment-error');
  const depWs = h('select', { id: 'deployment-workspace' }, workspaces.map((w) => h('option', { value: w.id, text: w.name })));
  const depName = h('input', { id: 'deployment-name', maxlength: 200, placeholder: 'e.g. prod-etl' });
  const depForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'deployment-workspace', text: 'Workspace' }), depWs),
    h('div', {}, h('label', { for: 'deployment-name', text: 'Name' }), depName),
    h('button', { type: 'submit', class: 'primary', text: 'Create Deployment', disabled: !workspaces.length }));
  depForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!depName.value.trim()) { depErr.textContent = 'Enter a name for the Deployment.'; depName.focus(); return; }
    act(depErr, () => api('POST', orgPath('/deployments'), { workspace: depWs.value, name: depName.value.trim() }), 'Deployment created');
  });
  const depRows = data.deployments.map((d) => {
    const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete Deployment ${d.name}` });
    del.addEventListener('click', () => {
      if (!confirm(`Delete Deployment "${d.name}" and every role given on it?`)) return;
      act(depErr, () => api('DELETE', orgPath(`/deployments/${encodeURIComponent(d.id)}`)), 'Deployment deleted');
    });
    return h('tr', { 'data-deployment': d.name }, h('td', { text: d.name }), h('td', { text: d.workspace.name }), h('td', {}, del));
  });

  // Custom Deployment roles
  const roleErr = errorLine('custom-role-error');
  const roleName = h('input', { id: 'custom-role-name', maxlength: 64, placeholder: 'e.g. Deployment_Viewer' });
  const perms = data.permissions.map((p, i) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: p, id: `perm-${i}` }), ` ${p}`));
  const roleForm = h('form', { class: 'stack-form', novalidate: true },
    h('div', {}, h('label', { for: 'custom-role-name', text: 'Name' }), roleName),
    h('fieldset', {}, h('legend', { text: 'Permissions' }), h('div', { class: 'checks' }, perms)),
    h('button', { type: 'submit', class: 'primary', text: 'Create role' }));
  roleForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = perms.map((l) => l.querySelector('input')).filter((c) => c.checked).map((c) => c.value);
    act(roleErr, () => api('POST', orgPath('/deployment-roles'), { name: roleName.value.trim(), permissions: chosen }), 'Custom role created');
  });
  const roleRows = data.deploymentRoles.map((c) => {
    const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete role ${c.name}` });
    del.addEventListener('click', () => act(roleErr, () => api('DELETE', orgPath(`/deployment-roles/${encodeURIComponent(c.id)}`)), 'Custom role deleted'));
    return h('tr', { 'data-custom-role': c.name }, h('td', { text: c.name }), h('td', { class: 'mono', text: c.permissions.join(', ') }), h('td', {}, del));
  });

  // Rules
  const ruleErr = errorLine('rule-error');
  const ruleName = h('input', { id: 'rule-name', maxlength: 100, placeholder: 'e.g. prod-admins' });
  const ruleKind = h('select', { id: 'rule-match' }, ['exact', 'prefix', 'pattern'].map((k) => h('option', { value: k, text: k })));
  const ruleValue = h('input', { id: 'rule-value', maxlength: 256, placeholder: 'astro-prod-admins, astro-prod-, astro-*-admins' });
  const ruleOrg = roleSelect('rule-org-role', roles.organization, '', true);
  const ruleWs = h('select', { id: 'rule-workspace' }, h('option', { value: '', text: '(none)' }), workspaces.map((w) => h('option', { value: w.id, text: w.name })));
  const ruleWsRole = roleSelect('rule-workspace-role', roles.workspace, '', true);
  const ruleDep = h('select', { id: 'rule-deployment' }, h('option', { value: '', text: '(none)' }), data.deployments.map((d) => h('option', { value: d.id, text: d.name })));
  const ruleDepRole = deploymentRoleSelect('rule-deployment-role', data.deploymentRoles, '');
  const ruleForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'rule-name', text: 'Name' }), ruleName),
    h('div', {}, h('label', { for: 'rule-match', text: 'Match' }), ruleKind),
    h('div', {}, h('label', { for: 'rule-value', text: 'displayName' }), ruleValue),
    h('div', {}, h('label', { for: 'rule-org-role', text: 'Organization role' }), ruleOrg),
    h('div', {}, h('label', { for: 'rule-workspace', text: 'Workspace' }), ruleWs),
    h('div', {}, h('label', { for: 'rule-workspace-role', text: 'Workspace role' }), ruleWsRole),
    h('div', {}, h('label', { for: 'rule-deployment', text: 'Deployment' }), ruleDep),
    h('div', {}, h('label', { for: 'rule-deployment-role', text: 'Deployment role' }), ruleDepRole),
    h('button', { type: 'submit', class: 'primary', text: 'Create rule' }));
  ruleForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { name: ruleName.value.trim(), match: ruleKind.value, value: ruleValue.value };
    if (ruleOrg.value) body.organizationRole = ruleOrg.value;
    if (ruleWs.value && ruleWsRole.value) body.workspaceRoles = [{ workspace: ruleWs.value, role: ruleWsRole.value }];
    if (ruleDep.value && ruleDepRole.value) body.deploymentRoles = [{ deployment: ruleDep.value, role: ruleDepRole.value }];
    act(ruleErr, () => api('POST', orgPath('/rules'), body), 'Rule created');
  });
  const ruleRows = data.rules.map((r) => {
    const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete rule ${r.name}` });
    del.addEventListener('click', () => act(ruleErr, () => api('DELETE', orgPath(`/rules/${encodeURIComponent(r.id)}`)), 'Rule deleted'));
    return h('tr', { 'data-rule': r.name }, h('td', { text: r.name }), h('td', { text: r.match }), h('td', { class: 'mono', text: r.value }),
      h('td', { text: templateText(r.template) }), h('td', {}, del));
  });
  const testInput = h('input', { id: 'rule-test-name', maxlength: 256, placeholder: 'a Team\'s displayName' });
  const testOut = h('p', { id: 'rule-test-result', 'aria-live': 'polite' });
  const testForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', {}, h('label', { for: 'rule-test-name', text: 'Test a name' }), testInput),
    h('button', { type: 'submit', text: 'Test' }));
  testForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    ruleErr.textContent = '';
    try {
      const r = await api('GET', orgPath(`/rules/test?name=${encodeURIComponent(testInput.value)}`));
      testOut.textContent = r.rule ? `"${r.displayName}" matches rule ${r.rule.name}: ${templateText(r.rule.template)}` : `"${r.displayName}" matches no rule.`;
    } catch (ex) { fail(ruleErr, ex); }
  });

  show(
    h('h1', { text: 'Access' }),
    ...accessWarnings(data),
    h('section', { class: 'card', 'aria-labelledby': 'deployments-title' },
      h('h2', { id: 'deployments-title', text: 'Deployments' }),
      h('p', { class: 'hint', text: 'Each Deployment is in a Workspace. Teams and users get DEPLOYMENT_ADMIN or a custom role on it (Team page, or scimbox team set-role --deployment).' }),
      depRows.length ? table(['Deployment', 'Workspace', ''], depRows, 'Deployments') : h('p', { class: 'muted', text: 'No Deployments yet.' }),
      depForm, depErr),
    h('section', { class: 'card', 'aria-labelledby': 'custom-roles-title' },
      h('h2', { id: 'custom-roles-title', text: 'Custom Deployment roles' }),
      roleRows.length ? table(['Role', 'Permissions', ''], roleRows, 'Custom Deployment roles') : h('p', { class: 'muted', text: 'No custom roles yet.' }),
      roleForm, roleErr),
    h('section', { class: 'card', 'aria-labelledby': 'rules-title' },
      h('h2', { id: 'rules-title', text: 'Role rules for pushed Teams' }),
      h('p', { class: 'hint', text: 'When the IdP creates a Team whose displayName matches a rule, the Team gets the rule\'s roles. Rules never overlap; pattern knows * and ?.' }),
      ruleRows.length ? table(['Rule', 'Match', 'Value', 'Grants', ''], ruleRows, 'Rules') : h('p', { class: 'muted', text: 'No rules yet.' }),
      ruleForm, testForm, testOut, ruleErr),
  );
}
