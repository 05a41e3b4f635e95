// The access model: the Access page (Deployments, custom Deployment roles, role rules for
// pushed Teams, the warnings: no active Organization Owner, tokens expiring soon) and its
// hooks on other pages: a Team's Deployment roles (teams.js) and token rotation (org.js). A user's effective access with its sources is drawn in users.js.
// Text only, never HTML.

import { h, show, toast, timeEl, table, errorLine, fail, busy, confirmAction, field, roleSelect } from './dom.js';
import { state, api, orgPath } from './api.js';
import { register } from './views.js';

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

/** A Rotate button with a grace period choice. `rotated(made)` shows the new secret once. */
export function rotateControl(t, err, rotated) {
  const grace = h('select', { 'aria-label': `Grace period for the old secret of ${t.name}` },
    h('option', { value: '0', text: 'old one stops now' }),
    h('option', { value: '15', text: 'old one 15 more min' }),
    h('option', { value: '60', text: 'old one 1 more hour' }),
    h('option', { value: '1440', text: 'old one 24 more hours' }));
  const btn = h('button', { type: 'button', text: 'Rotate', 'aria-label': `Rotate token ${t.name}` });
  btn.addEventListener('click', async () => {
    const minutes = Number(grace.value);
    const ok = await confirmAction({
      title: `Give token ${t.name} a new secret?`,
      consequence: minutes
        ? `The old secret keeps working for ${minutes >= 60 ? `${minutes / 60} hour${minutes === 60 ? '' : 's'}` : `${minutes} minutes`}, then the IdP that uses it is refused (401) until you paste the new one into it.`
        : 'The old secret is refused (401) from the next request: the IdP that uses it fails until you paste the new one into it.',
      confirm: 'Rotate',
      danger: minutes ? false : undefined,
    });
    if (!ok) return;
    err.textContent = '';
    try {
      const made = await busy(btn, () => api('POST', orgPath(`/tokens/${encodeURIComponent(t.id)}/rotate`), { graceMinutes: minutes }), 'Rotating…');
      await rotated(made);
    } catch (ex) { fail(err, ex); }
  });
  return h('span', { class: 'row rotate' }, grace, btn);
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
export function teamDeploymentCard(teamId) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'dep-roles-title', id: 'team-deployments' },
    h('h2', { id: 'dep-roles-title', text: 'Deployment roles' }), h('p', { class: 'muted', text: 'Loading…' }));
  const fill = async () => {
    const [ta, data] = await Promise.all([
      api('GET', orgPath(`/teams/${encodeURIComponent(teamId)}/access`)), api('GET', orgPath('/access'))]);
    const rows = data.deployments.map((d, i) => {
      const current = ta.deploymentRoles.find((g) => g.deployment.id === d.id);
      const sel = deploymentRoleSelect(`dep-role-${i}`, data.deploymentRoles, current ? current.role : '');
      sel.setAttribute('aria-label', `Role on ${d.name}`);
      const save = h('button', { type: 'button', text: 'Save', 'aria-label': `Save role on ${d.name}` });
      // Each row saves alone and redraws nothing, so choices in other rows stay (as Workspace roles).
      const rowErr = h('span', { class: 'error', role: 'alert', id: `dep-role-error-${i}` });
      sel.setAttribute('aria-describedby', rowErr.id);
      save.addEventListener('click', async () => {
        rowErr.textContent = '';
        try {
          await busy(save, () => api('PUT', orgPath(`/teams/${encodeURIComponent(teamId)}/deployment-roles`), { deployment: d.id, role: sel.value || null }), 'Saving…');
          toast(`Role on ${d.name} saved`);
        } catch (ex) { fail(rowErr, ex); }
        sel.focus();
      });
      return h('tr', { 'data-deployment': d.name }, h('td', { text: d.name }), h('td', { text: d.workspace.name }), h('td', {}, sel, rowErr), h('td', {}, save));
    });
    card.replaceChildren(...[
      h('h2', { id: 'dep-roles-title', text: 'Deployment roles' }),
      ta.rule ? h('p', { class: 'rule-origin' }, 'Template given at creation by rule ', h('strong', { text: ta.rule.name || ta.rule.id }), '.') : null,
      rows.length ? h('p', { class: 'hint', text: 'Every member inherits these roles. Members without a role in a Deployment\'s Workspace get WORKSPACE_ACCESSOR there.' }) : null,
      rows.length ? table(['Deployment', 'Workspace', 'Role', ''], rows, 'Deployment roles')
        : h('p', { class: 'muted' }, 'No Deployments yet; create them on the ', h('a', { href: '#/access', text: 'Access' }), ' page.'),
    ].filter(Boolean));
  };
  fill().catch((ex) => { const p = errorLine('dep-role-error'); fail(p, ex); card.replaceChildren(card.firstChild, p); });
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
  // Runs a change with its button busy, then draws the page again with focus back on `focusId`
  // (the form's first field); an error stays beside the form.
  const act = async (button, err, fn, message, focusId) => {
    err.textContent = '';
    try {
      await busy(button, fn, 'Saving…');
      toast(message);
      await viewAccess();
      const again = focusId && document.getElementById(focusId);
      if (again) again.focus();
    } catch (ex) { fail(err, ex); }
  };

  // Deployments
  const depErr = errorLine('deployment-error');
  const depWs = h('select', { id: 'deployment-workspace' }, workspaces.map((w) => h('option', { value: w.id, text: w.name })));
  const depName = h('input', { id: 'deployment-name', maxlength: 200, placeholder: 'e.g. prod-etl' });
  const depBtn = h('button', { type: 'submit', class: 'primary', text: 'Create Deployment', disabled: !workspaces.length });
  const depForm = h('form', { class: 'inline-form', novalidate: true },
    field('Workspace', depWs), field('Name', depName), depBtn);
  depForm.addEventListener('submit', (e) => {
    e.preventDefault();
    depErr.textContent = '';
    if (!depName.value.trim()) { depErr.textContent = 'Enter a name for the Deployment.'; depName.focus(); return; }
    act(depBtn, depErr, () => api('POST', orgPath('/deployments'), { workspace: depWs.value, name: depName.value.trim() }), 'Deployment created', 'deployment-name');
  });
  const depRows = data.deployments.map((d) => {
    const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete Deployment ${d.name}` });
    del.addEventListener('click', async () => {
      const ok = await confirmAction({
        title: `Delete Deployment ${d.name}?`,
        consequence: 'Every role given on it, to Teams and to users, is removed with it, and nobody keeps access to it through them. This cannot be undone.',
        confirm: 'Delete Deployment',
      });
      if (!ok) return;
      act(del, depErr, () => api('DELETE', orgPath(`/deployments/${encodeURIComponent(d.id)}`)), 'Deployment deleted', 'deployment-name');
    });
    return h('tr', { 'data-deployment': d.name }, h('td', { text: d.name }), h('td', { text: d.workspace.name }), h('td', {}, del));
  });

  // Custom Deployment roles
  const roleErr = errorLine('custom-role-error');
  const roleName = h('input', { id: 'custom-role-name', maxlength: 64, placeholder: 'e.g. Deployment_Viewer' });
  const perms = data.permissions.map((p, i) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: p, id: `perm-${i}` }), ` ${p}`));
  const roleBtn = h('button', { type: 'submit', class: 'primary', text: 'Create role' });
  const roleForm = h('form', { class: 'stack-form', novalidate: true },
    field('Name', roleName),
    h('fieldset', {}, h('legend', { text: 'Permissions' }), h('div', { class: 'checks' }, perms)),
    roleBtn);
  roleForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = perms.map((l) => l.querySelector('input')).filter((c) => c.checked).map((c) => c.value);
    act(roleBtn, roleErr, () => api('POST', orgPath('/deployment-roles'), { name: roleName.value.trim(), permissions: chosen }), 'Custom role created', 'custom-role-name');
  });
  const roleRows = data.deploymentRoles.map((c) => {
    const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete role ${c.name}` });
    del.addEventListener('click', async () => {
      const ok = await confirmAction({
        title: `Delete role ${c.name}?`,
        consequence: 'Teams and users that hold it on a Deployment lose it there.',
        confirm: 'Delete role',
      });
      if (!ok) return;
      act(del, roleErr, () => api('DELETE', orgPath(`/deployment-roles/${encodeURIComponent(c.id)}`)), 'Custom role deleted', 'custom-role-name');
    });
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
  const ruleBtn = h('button', { type: 'submit', class: 'primary', text: 'Create rule' });
  const ruleForm = h('form', { class: 'inline-form', novalidate: true },
    field('Name', ruleName), field('Match', ruleKind), field('displayName', ruleValue),
    field('Organization role', ruleOrg), field('Workspace', ruleWs), field('Workspace role', ruleWsRole),
    field('Deployment', ruleDep), field('Deployment role', ruleDepRole), ruleBtn);
  ruleForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = { name: ruleName.value.trim(), match: ruleKind.value, value: ruleValue.value };
    if (ruleOrg.value) body.organizationRole = ruleOrg.value;
    if (ruleWs.value && ruleWsRole.value) body.workspaceRoles = [{ workspace: ruleWs.value, role: ruleWsRole.value }];
    if (ruleDep.value && ruleDepRole.value) body.deploymentRoles = [{ deployment: ruleDep.value, role: ruleDepRole.value }];
    act(ruleBtn, ruleErr, () => api('POST', orgPath('/rules'), body), 'Rule created', 'rule-name');
  });
  const ruleRows = data.rules.map((r) => {
    const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete rule ${r.name}` });
    del.addEventListener('click', async () => {
      const ok = await confirmAction({
        title: `Delete rule ${r.name}?`,
        consequence: 'Teams the IdP creates from now on no longer get its roles. Teams it already gave roles to keep them.',
        confirm: 'Delete rule',
      });
      if (!ok) return;
      act(del, ruleErr, () => api('DELETE', orgPath(`/rules/${encodeURIComponent(r.id)}`)), 'Rule deleted', 'rule-name');
    });
    return h('tr', { 'data-rule': r.name }, h('td', { text: r.name }), h('td', { text: r.match }), h('td', { class: 'mono', text: r.value }),
      h('td', { text: templateText(r.template) }), h('td', {}, del));
  });
  const testInput = h('input', { id: 'rule-test-name', maxlength: 256, placeholder: 'a Team\'s displayName' });
  const testOut = h('p', { id: 'rule-test-result', 'aria-live': 'polite' });
  const testBtn = h('button', { type: 'submit', text: 'Test' });
  const testForm = h('form', { class: 'inline-form rule-test', novalidate: true }, field('Test a name', testInput), testBtn);
  testForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    ruleErr.textContent = '';
    try {
      const r = await busy(testBtn, () => api('GET', orgPath(`/rules/test?name=${encodeURIComponent(testInput.value)}`)), 'Testing…');
      testOut.textContent = r.rule ? `"${r.displayName}" matches rule ${r.rule.name}: ${templateText(r.rule.template)}` : `"${r.displayName}" matches no rule.`;
    } catch (ex) { fail(ruleErr, ex); }
  });

  show(
    h('h1', { text: 'Access' }),
    ...accessWarnings(data),
    h('section', { class: 'card', 'aria-labelledby': 'deployments-title' },
      h('h2', { id: 'deployments-title', text: 'Deployments' }),
      h('p', { class: 'hint' }, 'Each Deployment is in a Workspace. Teams and users get DEPLOYMENT_ADMIN or a custom role on it (on the Team page, or ',
        h('code', { text: 'scimbox team set-role --deployment' }), ').'),
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

register('access', { label: 'Access', order: 45, list: viewAccess });
