// Activity, in tabs: the SCIM requests the IdP sent (searchable, paged, kept across
// restarts), the audit log (who changed what, by name, with the request that did it) and
// sync health (is anything out of sync?). Also the history card on a user's and a Team's page.

import { h, show, timeEl, badge, table, errorLine, fail, field, select } from './dom.js';
import { api, orgPath } from './api.js';
import { register, navigate, href } from './views.js';

const TABS = [['requests', 'Requests'], ['audit', 'Audit log'], ['health', 'Sync health']];
const REQUEST_FILTERS = ['method', 'status', 'path', 'token', 'resource', 'requestId', 'since', 'until'];
const AUDIT_FILTERS = ['type', 'actor', 'action', 'resource', 'requestId', 'since', 'until'];

/** The filters of a tab from the URL, as an object (empty ones left out). */
function filters(params, names) {
  const out = {};
  for (const n of names) if (params.get(n)) out[n] = params.get(n);
  return out;
}

/** `<input type=datetime-local>` speaks local time; the URL and the API speak UTC. */
function localInput(id, utc) {
  const input = h('input', { id, type: 'datetime-local', step: 1 });
  if (utc) {
    const d = new Date(utc);
    if (!Number.isNaN(d.getTime())) {
      const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
      input.value = local.toISOString().slice(0, 19);
    }
  }
  return input;
}
function utcOf(input) {
  if (!input.value) return '';
  const d = new Date(input.value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function wide(el) { el.classList.add('wide'); return el; }

function pretty(text) {
  if (!text) return '';
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

function statusBadge(status) {
  return badge(String(status), status >= 500 ? 'bad' : status >= 400 ? 'warn' : 'ok');
}

function resourceLink(type, id, name, display) {
  const section = type === 'User' ? 'users' : type === 'Team' ? 'teams' : null;
  const label = display && name && display !== name ? `${display} (${name})` : (name || display || id);
  if (!section || !name) return h('span', { class: name ? '' : 'mono small', text: label });
  return h('a', { href: `#/${section}/${encodeURIComponent(id)}`, text: label, title: id });
}

// ---- Requests -----------------------------------------------------------------------------

/** The attributes a request sent under undeclared extensions (dropped by the server). */
function droppedNote(dropped) {
  if (!dropped || !dropped.length) return null;
  return h('p', { class: 'warn dropped' }, 'Dropped, not declared in this organization (see ',
    h('a', { href: '#/schemas', text: 'Schemas' }), '): ', h('span', { class: 'mono small', text: dropped.join(', ') }));
}

async function requestsTab(params) {
  const f = filters(params, REQUEST_FILTERS);
  const before = params.get('before') || '';
  const err = errorLine('requests-error');
  const method = select('req-method', [['', 'Any'], ['GET', 'GET'], ['POST', 'POST'], ['PUT', 'PUT'], ['PATCH', 'PATCH'], ['DELETE', 'DELETE']], f.method);
  const status = select('request-status', [['', 'All'], ['2', '2xx success'], ['4', '4xx client errors'], ['401', '401 unauthorized'], ['403', '403 forbidden'], ['404', '404 not found'], ['409', '409 conflict'], ['5', '5xx server errors']], f.status);
  const path = h('input', { id: 'req-path', type: 'search', value: f.path || '', maxlength: 200, placeholder: '/Groups' });
  const token = h('input', { id: 'req-token', value: f.token || '', maxlength: 200, placeholder: 'token name' });
  const resource = h('input', { id: 'req-resource', value: f.resource || '', maxlength: 200, placeholder: 'user or Team id', class: 'mono' });
  const requestId = h('input', { id: 'req-id', value: f.requestId || '', maxlength: 64, placeholder: 'X-Request-Id', class: 'mono' });
  const since = localInput('req-since', f.since);
  const until = localInput('req-until', f.until);
  const searchBtn = h('button', { type: 'submit', class: 'primary', id: 'requests-search', text: 'Search' });
  const form = h('form', { class: 'filters', role: 'search', novalidate: true, 'aria-describedby': 'requests-error' },
    field('Method', method), field('Status', status), field('Path contains', path), field('Token', token),
    field('Resource id', resource), field('Request id', requestId), wide(field('From', since)), wide(field('Until', until)),
    h('div', { class: 'filter-actions' }, searchBtn,
      h('a', { href: href('activity', null, { tab: 'requests' }), class: 'button', id: 'requests-clear', text: 'Clear' })));
  // Choosing a status or method searches at once; text fields search on Enter.
  const apply = () => {
    if (since.value && until.value && utcOf(since) >= utcOf(until)) { err.textContent = '"From" must be before "Until".'; since.focus(); return; }
    navigate('activity', null, {
      tab: 'requests', method: method.value, status: status.value, path: path.value.trim(), token: token.value.trim(),
      resource: resource.value.trim(), requestId: requestId.value.trim(), since: utcOf(since), until: utcOf(until),
    });
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); searchBtn.focus(); apply(); });
  status.addEventListener('change', apply);
  method.addEventListener('change', apply);

  const box = h('div', { id: 'requests', 'aria-live': 'polite' });
  const q = new URLSearchParams({ ...f, limit: 50 });
  if (before) q.set('before', before);
  let data;
  try { data = await api('GET', orgPath(`/requests?${q}`)); } catch (ex) { if (ex.status === 401) throw ex; fail(err, ex); data = null; }
  if (data) {
    const rows = [];
    data.requests.forEach((r) => {
      const open = h('button', { type: 'button', class: 'link', 'aria-expanded': 'false', text: 'Bodies', 'aria-controls': `req-body-${r.id}` });
      const bodyRow = h('tr', { class: 'bodies', id: `req-body-${r.id}`, hidden: true },
        h('td', { colspan: 9 },
          h('p', { class: 'muted', text: `${r.userAgent || 'no user agent'}${r.source ? ` · from ${r.source}` : ''}${r.query ? ` · ?${r.query}` : ''}` }),
          h('div', { class: 'bodies-grid' },
            h('div', {}, h('h3', { text: `Request (${r.requestBytes} bytes)` }), h('pre', { class: 'json', tabindex: 0, text: pretty(r.requestBody) || '(empty)' })),
            h('div', {}, h('h3', { text: 'Response' }), h('pre', { class: 'json', tabindex: 0, text: pretty(r.responseBody) || '(empty)' }))),
          droppedNote(r.dropped)));
      open.addEventListener('click', () => {
        bodyRow.hidden = !bodyRow.hidden;
        open.setAttribute('aria-expanded', String(!bodyRow.hidden));
      });
      rows.push(h('tr', { 'data-status': r.status, 'data-method': r.method, 'data-request': r.requestId },
        h('td', { class: 'nowrap-cell' }, timeEl(r.at)),
        h('td', { class: 'mono', text: r.method }),
        h('td', { class: 'mono path', text: r.path.replace(/^\/scim\/v2\/[^/]+/, '') || '/' }),
        h('td', { class: 'nowrap-cell' }, statusBadge(r.status), r.dropped && r.dropped.length ? [' ', badge('dropped', 'warn')] : null),
        h('td', { class: 'num nowrap-cell', text: `${r.latencyMs.toFixed(1)} ms` }),
        h('td', { class: 'nowrap-cell', text: r.token || '—' }),
        h('td', { class: 'mono small rid' }, h('a', { href: href('activity', null, { tab: 'requests', requestId: r.requestId }), text: r.requestId, title: 'X-Request-Id: also in the response header and the server log' })),
        h('td', {}, r.auditEntries
          ? h('a', { class: 'audit-link', href: href('activity', null, { tab: 'audit', requestId: r.requestId }), text: `${r.auditEntries} change${r.auditEntries === 1 ? '' : 's'}` })
          : h('span', { class: 'muted', text: '—' })),
        h('td', {}, open)));
      rows.push(bodyRow);
    });
    const older = h('button', { type: 'button', id: 'requests-older', text: 'Older →', disabled: !data.next });
    older.addEventListener('click', () => navigate('activity', null, { tab: 'requests', ...f, before: data.next }));
    const newest = h('button', { type: 'button', id: 'requests-newest', text: '← Newest', disabled: !before });
    newest.addEventListener('click', () => navigate('activity', null, { tab: 'requests', ...f }));
    const anyFilter = Object.keys(f).length > 0;
    box.append(
      h('p', { class: 'count', id: 'requests-count', text: `${data.total} request${data.total === 1 ? '' : 's'}${anyFilter ? ' match' : ' kept'}${data.requests.length ? `; showing ${data.requests.length}` : ''}.` }),
      data.requests.length ? table(['When', 'Method', 'Path', 'Status', 'Latency', 'Token', 'Request id', 'Audit', ''], rows, 'SCIM requests', 'requests-table')
        : h('p', { class: 'muted', text: anyFilter ? 'No request matches.' : 'No SCIM requests yet.' }),
      h('nav', { class: 'pager', 'aria-label': 'Request pages' }, newest, older),
      h('p', { class: 'muted', text: `The server keeps the latest ${data.kept} requests${data.keptDays ? `, for ${data.keptDays} days` : ''}, in its database (--request-log-size, --request-log-days).` }));
  }
  return [
    h('p', { class: 'hint', text: 'What the IdP sent, newest first. Authorization headers are never kept and passwords in bodies are replaced by ***.' }),
    form, err, box,
  ];
}

// ---- Audit --------------------------------------------------------------------------------

function memberNames(list) {
  const names = (part) => part.flatMap((m, i) => [i ? ', ' : '', m.name ? resourceLink('User', m.id, m.name, m.display) : h('span', { class: 'mono small', text: `${m.id} (deleted)` })]);
  if (list.length <= 10) return names(list);
  // A Team pushed with a thousand members stays one readable line, the rest on request.
  return [...names(list.slice(0, 10)), ' ', h('details', { class: 'more-names' },
    h('summary', { text: `and ${list.length - 10} more` }), h('div', {}, names(list.slice(10))))];
}

/** What an entry did, in words, with the names linked. */
function whatHappened(e) {
  const target = resourceLink(e.resourceType, e.resourceId, e.resourceName, e.resourceDisplay);
  if (e.action === 'members' && e.members) {
    const parts = [];
    if (e.members.added.length) parts.push(h('span', { class: 'added' }, 'added ', memberNames(e.members.added)));
    if (e.members.added.length && e.members.removed.length) parts.push('; ');
    if (e.members.removed.length) parts.push(h('span', { class: 'removed' }, 'removed ', memberNames(e.members.removed)));
    return h('span', {}, `${e.resourceType} `, target, ': ', parts);
  }
  const verb = { create: 'created', update: 'changed', delete: 'deleted', roles: 'roles changed', revoke: 'revoked' }[e.action] || e.action;
  return h('span', {}, `${e.resourceType} `, target, ` ${verb}`);
}

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
  if (!lines.length) return null;
  return h('details', { class: 'diff-box' }, h('summary', { text: `Change (${lines.length} line${lines.length === 1 ? '' : 's'})` }), h('div', { class: 'diff' }, lines));
}

function auditRows(entries) {
  return entries.map((e) => h('tr', { 'data-action': e.action, 'data-entry': e.id },
    h('td', { class: 'nowrap-cell' }, timeEl(e.at)),
    h('td', {}, h('div', { text: e.actor }),
      e.source || e.userAgent ? h('div', { class: 'muted small', text: [e.source, e.userAgent].filter(Boolean).join(' · ') }) : null),
    h('td', {}, h('div', { class: 'what' }, whatHappened(e)),
      e.reason ? h('div', { class: 'muted small reason', text: e.reason }) : null,
      e.action === 'members' ? null : diffView(e.before, e.after)),
    h('td', { class: 'mono small rid' }, e.requestId
      ? h('a', { class: 'request-link', href: href('activity', null, { tab: 'requests', requestId: e.requestId }), text: e.requestId })
      : h('span', { class: 'muted', text: '—' }))));
}

async function auditTab(params) {
  const f = filters(params, AUDIT_FILTERS);
  const before = params.get('before') || '';
  const err = errorLine('audit-error');
  const type = select('audit-type', ['', 'User', 'Team', 'Token', 'Organization', 'Workspace'].map((t) => [t, t || 'Everything']), f.type);
  const action = select('audit-action', [['', 'Any'], ['create', 'create'], ['update', 'update'], ['delete', 'delete'], ['members', 'members'], ['roles', 'roles'], ['revoke', 'revoke']], f.action);
  const actor = h('input', { id: 'audit-actor', value: f.actor || '', maxlength: 200, placeholder: 'token:okta, admin:…' });
  const resource = h('input', { id: 'audit-resource', value: f.resource || '', maxlength: 200, placeholder: 'user or Team id', class: 'mono' });
  const requestId = h('input', { id: 'audit-request', value: f.requestId || '', maxlength: 64, placeholder: 'X-Request-Id', class: 'mono' });
  const since = localInput('audit-since', f.since);
  const until = localInput('audit-until', f.until);
  const searchBtn = h('button', { type: 'submit', class: 'primary', id: 'audit-search', text: 'Search' });
  const exportQuery = new URLSearchParams(f);
  const exportLink = (format) => { const q = new URLSearchParams(exportQuery); q.set('format', format); return `/admin/api${orgPath(`/audit/export?${q}`)}`; };
  const form = h('form', { class: 'filters', role: 'search', novalidate: true },
    field('Resource type', type), field('Action', action), field('Actor', actor), field('Resource id', resource),
    field('Request id', requestId), wide(field('From', since)), wide(field('Until', until)),
    h('div', { class: 'filter-actions' }, searchBtn,
      h('a', { href: href('activity', null, { tab: 'audit' }), class: 'button', text: 'Clear' })));
  const apply = () => {
    if (since.value && until.value && utcOf(since) >= utcOf(until)) { err.textContent = '"From" must be before "Until".'; since.focus(); return; }
    navigate('activity', null, {
      tab: 'audit', type: type.value, action: action.value, actor: actor.value.trim(), resource: resource.value.trim(),
      requestId: requestId.value.trim(), since: utcOf(since), until: utcOf(until),
    });
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); searchBtn.focus(); apply(); });
  type.addEventListener('change', apply);
  action.addEventListener('change', apply);
  const box = h('div', { id: 'audit', 'aria-live': 'polite' });
  const q = new URLSearchParams({ ...f, limit: 50 });
  if (before) q.set('before', before);
  let data;
  try { data = await api('GET', orgPath(`/audit?${q}`)); } catch (ex) { if (ex.status === 401) throw ex; fail(err, ex); data = null; }
  if (data) {
    const older = h('button', { type: 'button', id: 'audit-older', class: 'more', text: 'Older →', disabled: !data.next });
    older.addEventListener('click', () => navigate('activity', null, { tab: 'audit', ...f, before: data.next }));
    const newest = h('button', { type: 'button', id: 'audit-newest', text: '← Newest', disabled: !before });
    newest.addEventListener('click', () => navigate('activity', null, { tab: 'audit', ...f }));
    box.append(
      h('p', { class: 'count', id: 'audit-count', text: `${data.total} entr${data.total === 1 ? 'y' : 'ies'}${data.entries.length ? `; showing ${data.entries.length}` : ''}.` }),
      data.entries.length ? table(['When', 'Who', 'What', 'Request'], auditRows(data.entries), 'Audit log', 'audit-table')
        : h('p', { class: 'muted', text: 'Nothing recorded matches.' }),
      h('nav', { class: 'pager', 'aria-label': 'Audit pages' }, newest, older));
  }
  return [
    h('p', { class: 'hint', text: 'Every change, who made it (a token or an admin), from where, and what changed.' }),
    h('p', { class: 'export' }, 'Export these entries: ',
      h('a', { href: exportLink('csv'), id: 'export-csv', download: 'audit.csv', text: 'CSV' }), ' · ',
      h('a', { href: exportLink('ndjson'), id: 'export-ndjson', download: 'audit.ndjson', text: 'NDJSON' }),
      h('span', { class: 'muted', text: ' (also: scimbox audit export --org ORG --format csv)' })),
    form, err, box,
  ];
}

/** The latest changes of one user or Team, on its page. */
export function historyCard(resourceId, name) {
  const box = h('div', { id: 'history' }, h('p', { class: 'loading', text: 'Loading…' }));
  api('GET', orgPath(`/audit?${new URLSearchParams({ resource: resourceId, limit: 10 })}`)).then((data) => {
    box.replaceChildren(
      data.entries.length ? table(['When', 'Who', 'What', 'Request'], auditRows(data.entries), `History of ${name}`, 'audit-table')
        : h('p', { class: 'muted', text: 'No recorded changes.' }),
      h('p', {}, h('a', { href: href('activity', null, { tab: 'audit', resource: resourceId }), text: `All changes in the audit log (${data.total}) →` })));
  }).catch((ex) => { const p = errorLine('history-error'); fail(p, ex); box.replaceChildren(p); });
  return h('section', { class: 'card', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title', text: 'History' }), box);
}

/** When the IdP last wrote a user or Team, and whether it changed here since. */
export function syncNote(sync) {
  if (!sync || (!sync.idpWrote && !sync.changedHere)) return null;
  const drift = sync.idpWrote && sync.changedHere && sync.changedHere > sync.idpWrote;
  return h('p', { class: drift ? 'warn' : 'hint', id: 'sync-line' },
    'The IdP last wrote this ', sync.idpWrote ? timeEl(sync.idpWrote) : 'never',
    sync.changedHere ? ['; changed here ', timeEl(sync.changedHere)] : '',
    drift ? '. Changed here since: the IdP overwrites it on its next sync (in Okta, "Push now" on the Push Groups tab sends its version at once).' : '.');
}

// ---- Sync health --------------------------------------------------------------------------

const pct = (r) => `${Math.round(r * 100)}%`;

async function healthTab() {
  const data = await api('GET', orgPath('/health'));
  const tokenRows = data.tokens.map((t) => h('tr', { 'data-token': t.name, 'data-warning': t.warning || '' },
    h('td', { text: t.name }),
    h('td', {}, badge(t.state, t.state === 'live' ? 'ok' : 'off')),
    h('td', {}, timeEl(t.lastRequest || t.lastUsed)),
    h('td', { class: 'num', text: `${t.hour.failures} of ${t.hour.requests} (${pct(t.hour.rate)})` }),
    h('td', { class: 'num', text: `${t.day.failures} of ${t.day.requests} (${pct(t.day.rate)})` }),
    h('td', {}, t.warning === 'quarantine' ? badge('quarantine likely', 'bad')
      : t.warning === 'near-quarantine' ? badge('near quarantine', 'warn') : badge('healthy', 'ok'))));
  const warned = data.tokens.filter((t) => t.warning);
  // The same failure again and again is one row with a count.
  const groups = [];
  for (const r of data.failing) {
    const key = [r.token, r.method, r.path.replace(/\/[0-9a-f-]{16,}$/i, '/…'), r.status, r.scimType, r.detail].join('\u0000');
    const g = groups.find((x) => x.key === key);
    if (g) g.count += 1; else groups.push({ key, count: 1, r });
  }
  const failingRows = groups.map(({ count, r }) => h('tr', { 'data-status': r.status },
    h('td', { class: 'nowrap-cell' }, timeEl(r.at), count > 1 ? h('div', { class: 'muted small', text: `and ${count - 1} more like it` }) : null),
    h('td', {}, h('span', { class: 'mono', text: `${r.method} ${r.path.replace(/^\/scim\/v2\/[^/]+/, '')}` }), r.token ? h('div', { class: 'muted small', text: `token ${r.token}` }) : null),
    h('td', {}, statusBadge(r.status), r.scimType ? h('span', { class: 'mono small', text: ` ${r.scimType}` }) : null,
      r.detail ? h('div', { class: 'small', text: String(r.detail) }) : null),
    h('td', { class: 'advice', text: r.advice }),
    h('td', { class: 'mono small rid' }, h('a', { href: href('activity', null, { tab: 'requests', requestId: r.requestId }), text: r.requestId }))));
  const driftRows = data.drift.map((d) => h('tr', { 'data-resource': d.id },
    h('td', {}, `${d.type} `, resourceLink(d.type, d.id, d.name, d.display)),
    h('td', {}, timeEl(d.idpWrote)),
    h('td', {}, timeEl(d.changedHere)),
    h('td', { text: d.changedBy })));
  return [
    h('section', { class: 'sub', 'aria-labelledby': 'health-tokens-title' },
      h('h2', { id: 'health-tokens-title', text: 'Tokens: IdP contact and errors' }),
      warned.length ? h('p', { class: 'alert', id: 'quarantine-warning', role: 'status' },
        h('strong', { text: `${warned.map((t) => t.name).join(', ')}: ` }),
        `most calls in the last hour failed. Entra puts an application in quarantine when most or all of its calls consistently fail (for example with invalid credentials): it then syncs less and less often, down to once a day, and disables provisioning after four weeks. This page warns from ${pct(data.thresholds.warn)} failures an hour and calls quarantine likely from ${pct(data.thresholds.quarantine)}.`) : null,
      tokenRows.length ? table(['Token', 'State', 'Last IdP contact', 'Failed, last hour', 'Failed, last day', 'Health'], tokenRows, 'Tokens', 'health-table')
        : h('p', { class: 'muted', text: 'No tokens.' }),
      data.refusedLastHour ? h('p', { class: 'warn', text: `${data.refusedLastHour} request${data.refusedLastHour === 1 ? '' : 's'} in the last hour had no valid token (401): an IdP may be using a revoked or mistyped token.` }) : null,
      h('p', { class: 'hint', text: 'Failures are 5xx answers and 4xx ones other than 404, 409 and 412 (those are normal answers an IdP expects).' })),
    h('section', { class: 'sub', 'aria-labelledby': 'health-failing-title' },
      h('h2', { id: 'health-failing-title', text: 'Latest failing IdP requests' }),
      failingRows.length ? table(['When', 'Request', 'Error', 'What to change', 'Request id'], failingRows, 'Failing requests', 'failing-table')
        : h('p', { class: 'muted', text: 'No failing requests in the last day.' })),
    h('section', { class: 'sub', 'aria-labelledby': 'health-drift-title' },
      h('h2', { id: 'health-drift-title', text: 'Changed here since the IdP last wrote them' }),
      h('p', { class: 'hint', text: 'The IdP does not know about these changes and overwrites them on its next sync of the user or group. In Okta, "Push now" on the Push Groups tab sends the group as Okta has it; change it in the IdP to keep it.' }),
      driftRows.length ? table(['Resource', 'IdP last wrote', 'Changed here', 'By'], driftRows, 'Changed locally', 'drift-table')
        : h('p', { class: 'muted', text: 'Nothing: every user and Team is as the IdP last wrote it.' })),
  ];
}

async function viewActivity(params) {
  const tab = TABS.some(([k]) => k === params.get('tab')) ? params.get('tab') : 'requests';
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Activity' },
    TABS.map(([k, label]) => h('a', {
      role: 'tab', id: `tab-${k}`, href: href('activity', null, { tab: k }), 'aria-selected': String(k === tab),
      'aria-controls': 'tab-panel', tabindex: k === tab ? '0' : '-1', text: label,
    })));
  tabs.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = TABS.findIndex(([k]) => k === tab);
    const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length][0];
    document.getElementById(`tab-${next}`).focus(); // focus stays on the tab strip
    navigate('activity', null, { tab: next });
  });
  const content = await (tab === 'audit' ? auditTab(params) : tab === 'health' ? healthTab() : requestsTab(params));
  const refresh = h('button', { type: 'button', id: 'requests-refresh', text: 'Refresh' });
  refresh.addEventListener('click', () => navigate('activity', null, Object.fromEntries(params)));
  show(
    h('div', { class: 'title-row' }, h('h1', { text: 'Activity' }), refresh),
    tabs,
    h('section', { class: 'card tab-panel', id: 'tab-panel', role: 'tabpanel', 'aria-labelledby': `tab-${tab}` }, content),
  );
}

register('activity', { order: 60, label: 'Activity', list: viewActivity });
