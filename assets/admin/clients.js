// The OAuth clients view (#/clients): clients that trade a secret or a signed assertion
// (workload identity federation) for an access token, and how to set Entra up with them.
// Like the rest of the page it puts server data on the page only as text.

import { h, show, toast, timeEl, badge, table, errorLine, fail, busy, confirmAction, copyField } from './dom.js';
import { state, api, orgPath } from './api.js';
import { register } from './views.js';

const CLIENT_MAX_DAYS = 1095;

function clientSecretBox(title, clientId, secret) {
  const fields = [];
  if (clientId) fields.push(copyField('Client ID', clientId, 'client-id-value'));
  fields.push(copyField('Client secret', secret, 'client-secret-value'));
  return h('div', { class: 'card secret' },
    h('h2', { text: title }),
    h('p', { class: 'warn', text: 'Copy the secret now: it is shown only this once. scimbox keeps only a hash.' }),
    fields);
}

function clientForm(err, done) {
  const name = h('input', { id: 'client-name', required: true, maxlength: 200, placeholder: 'e.g. entra' });
  const kind = h('select', { id: 'client-kind' },
    h('option', { value: 'secret', text: 'Client secret' }),
    h('option', { value: 'federated', text: 'Workload identity federation (no secret)' }));
  const days = h('input', { id: 'client-days', type: 'number', min: 1, max: CLIENT_MAX_DAYS, inputmode: 'numeric', placeholder: '365' });
  const fed = {
    jwksUrl: h('input', { id: 'client-jwks', class: 'mono', placeholder: 'https://login.microsoftonline.com/{tenant id}/discovery/v2.0/keys' }),
    issuer: h('input', { id: 'client-issuer', class: 'mono', placeholder: 'https://login.microsoftonline.com/{tenant id}/v2.0' }),
    subject: h('input', { id: 'client-subject', class: 'mono', placeholder: 'the object id Entra puts in sub' }),
    audience: h('input', { id: 'client-audience', class: 'mono', placeholder: 'api://…' }),
  };
  const secretPart = h('div', {}, h('label', { for: 'client-days', text: `Secret expires in days (1 to ${CLIENT_MAX_DAYS})` }), days);
  const fedPart = h('div', { class: 'stack', hidden: true },
    h('label', { for: 'client-jwks', text: 'JWKS URL' }), fed.jwksUrl,
    h('label', { for: 'client-issuer', text: 'Issuer (iss)' }), fed.issuer,
    h('label', { for: 'client-subject', text: 'Subject (sub)' }), fed.subject,
    h('label', { for: 'client-audience', text: 'Audience (aud)' }), fed.audience);
  kind.addEventListener('change', () => {
    const federated = kind.value === 'federated';
    secretPart.hidden = federated;
    fedPart.hidden = !federated;
  });
  const create = h('button', { type: 'submit', class: 'primary', text: 'Create client' });
  const form = h('form', { class: 'stack', novalidate: true },
    h('div', {}, h('label', { for: 'client-name', text: 'Name' }), name),
    h('div', {}, h('label', { for: 'client-kind', text: 'How it authenticates' }), kind),
    secretPart, fedPart,
    create);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!name.value.trim()) { err.textContent = 'Enter a name for the client, so you can recognise it later.'; name.focus(); return; }
    const body = { name: name.value.trim(), kind: kind.value };
    if (kind.value === 'secret' && days.value) {
      const n = Number(days.value);
      if (!Number.isInteger(n) || n < 1 || n > CLIENT_MAX_DAYS) { err.textContent = `Expiry must be a whole number of days from 1 to ${CLIENT_MAX_DAYS}.`; days.focus(); return; }
      body.expiresInDays = n;
    }
    if (kind.value === 'federated') {
      for (const [key, input] of Object.entries(fed)) {
        if (!input.value.trim()) { err.textContent = 'A federated client needs the JWKS URL, issuer, subject and audience.'; input.focus(); return; }
        body[key] = input.value.trim();
      }
    }
    try {
      const made = await busy(create, () => api('POST', orgPath('/clients'), body), 'Creating…');
      await done(made);
    } catch (ex) { fail(err, ex); }
  });
  return form;
}

function clientRow(c, err) {
  const refresh = () => viewClients();
  const actions = [];
  if (c.state === 'live' && c.kind === 'secret') {
    const add = h('button', { type: 'button', text: 'Add secret', 'aria-label': `Add a secret to ${c.name}` });
    add.addEventListener('click', async () => {
      err.textContent = '';
      try {
        const made = await busy(add, () => api('POST', orgPath(`/clients/${encodeURIComponent(c.id)}/secrets`), {}), 'Adding…');
        await viewClients();
        document.getElementById('new-client').replaceChildren(
          clientSecretBox(`New secret for ${c.name}`, null, made.value));
        document.getElementById('client-secret-value').focus();
      } catch (ex) { fail(err, ex); }
    });
    actions.push(add);
  }
  if (c.state === 'live') {
    const revoke = h('button', { type: 'button', class: 'danger', text: 'Revoke', 'aria-label': `Revoke client ${c.name}` });
    revoke.addEventListener('click', async () => {
      const ok = await confirmAction({
        title: `Revoke client ${c.name}?`,
        consequence: 'Its access tokens are refused at once and it gets no new ones: the IdP that uses it fails (401) from its next request, until you give it another client.',
        confirm: 'Revoke',
      });
      if (!ok) return;
      err.textContent = '';
      try {
        await busy(revoke, () => api('DELETE', orgPath(`/clients/${encodeURIComponent(c.id)}`)), 'Revoking…');
        toast(`Client ${c.name} revoked`);
        await refresh();
      } catch (ex) { fail(err, ex); }
    });
    actions.push(revoke);
  }
  const secrets = c.kind === 'federated'
    ? h('dl', { class: 'kv' },
      h('dt', { text: 'JWKS' }), h('dd', { class: 'mono', text: c.federation.jwksUrl }),
      h('dt', { text: 'iss' }), h('dd', { class: 'mono', text: c.federation.issuer }),
      h('dt', { text: 'sub' }), h('dd', { class: 'mono', text: c.federation.subject }),
      h('dt', { text: 'aud' }), h('dd', { class: 'mono', text: c.federation.audience }))
    : h('ul', { class: 'plain' }, c.secrets.map((s) => {
      const del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete secret ${s.id}` });
      del.addEventListener('click', async () => {
        const ok = await confirmAction({
          title: `Delete secret ${s.id} of ${c.name}?`,
          consequence: 'Whoever still uses this secret gets no more access tokens (tokens already issued last until they expire). Paste the newer secret into the IdP first.',
          confirm: 'Delete secret',
        });
        if (!ok) return;
        err.textContent = '';
        try {
          await busy(del, () => api('DELETE', orgPath(`/clients/${encodeURIComponent(c.id)}/secrets/${encodeURIComponent(s.id)}`)), 'Deleting…');
          toast(`Secret ${s.id} deleted`);
          await refresh();
        } catch (ex) { fail(err, ex); }
      });
      return h('li', { 'data-secret': s.id, class: 'secret-line' },
        h('div', {}, h('span', { class: 'mono small', text: s.id }), ' ', badge(s.state, s.state === 'live' ? 'ok' : 'off'),
          h('div', { class: 'muted small' }, 'expires ', timeEl(s.expires))),
        c.state === 'live' ? del : null);
    }));
  return h('tr', { 'data-client': c.name },
    h('td', { class: 'client-name', text: c.name }),
    h('td', { class: 'mono small nowrap-cell', text: c.id }),
    h('td', { class: 'nowrap-cell', text: c.kind === 'secret' ? 'secret' : 'federated' }),
    h('td', {}, secrets),
    h('td', {}, timeEl(c.lastUsed)),
    h('td', {}, badge(c.state, c.state === 'live' ? 'ok' : 'off')),
    h('td', {}, h('div', { class: 'client-actions' }, actions)));
}

function entraSetup(info) {
  const org = state.org;
  return h('section', { class: 'card', 'aria-labelledby': 'entra-oauth-title' },
    h('h2', { id: 'entra-oauth-title', text: 'Set up Microsoft Entra ID with OAuth' }),
    h('div', { class: 'setup' },
      h('div', {},
        h('h3', { text: 'Client credentials (client secret)' }),
        h('ol', {},
          h('li', { text: 'Create a client above with "Client secret". Copy the client ID and the secret it shows once.' }),
          h('li', { text: 'In the Entra admin center, open your enterprise application → Provisioning, set Provisioning Mode to Automatic.' }),
          h('li', { text: 'As authentication method choose OAuth 2.0 client credentials grant.' }),
          h('li', {}, 'Tenant URL: ', h('code', { text: org.entraTenantUrl })),
          h('li', {}, 'Token endpoint: ', h('code', { text: info.tokenEndpoint })),
          h('li', { text: 'Client identifier: the client ID (sbc_…). Client secret: the secret (sbs_…).' }),
          h('li', { text: 'Test Connection, then save. Before the secret expires, Add secret here, paste the new one into Entra, test, then delete the old one: both work in between.' }))),
      h('div', {},
        h('h3', { text: 'Workload identity federation (no secret)' }),
        h('ol', {},
          h('li', { text: 'In Entra, the provisioning app gets its tokens from Entra itself: note the tenant ID, the object ID of the identity Entra signs for, and the application ID URI (api://…) set as its audience.' }),
          h('li', {}, 'Create a client above with "Workload identity federation": JWKS URL ', h('code', { text: 'https://login.microsoftonline.com/{tenant id}/discovery/v2.0/keys' }),
            ', issuer ', h('code', { text: 'https://login.microsoftonline.com/{tenant id}/v2.0' }),
            ' (v1.0 tokens say ', h('code', { text: 'https://sts.windows.net/{tenant id}/' }), '), subject the object ID, audience the application ID URI.'),
          h('li', {}, 'In Entra, Tenant URL ', h('code', { text: org.entraTenantUrl }), ', token endpoint ', h('code', { text: info.tokenEndpoint }), ', client identifier the client ID (sbc_…).'),
          h('li', { text: 'Entra sends a signed assertion instead of a secret; scimbox checks it against the JWKS, the issuer, the subject, the audience and its expiry, and refuses one used twice.' }),
          h('li', {}, 'Each access token lives ', h('b', { text: `${Math.round(info.accessTokenSeconds / 60)} minutes` }), ' and works only on this organization\'s SCIM base URL.')))));
}

async function viewClients() {
  const info = await api('GET', orgPath('/clients'));
  const err = errorLine('client-error');
  const form = clientForm(err, async (made) => {
    await viewClients();
    const box = document.getElementById('new-client');
    if (made.secret) {
      box.replaceChildren(clientSecretBox(`Client ${made.name} created`, made.id, made.secret.value));
      document.getElementById('client-secret-value').focus();
    } else {
      box.replaceChildren(h('div', { class: 'card secret' },
        h('h2', { text: `Client ${made.name} created` }), copyField('Client ID', made.id, 'client-id-value')));
    }
  });
  const rows = info.clients.slice().reverse().map((c) => clientRow(c, err));
  show(
    h('h1', { text: 'OAuth clients' }),
    h('section', { class: 'card', 'aria-labelledby': 'oauth-endpoints-title' },
      h('h2', { id: 'oauth-endpoints-title', text: 'Endpoints' }),
      copyField('Token endpoint', info.tokenEndpoint, 'token-endpoint'),
      copyField('Entra Tenant URL', state.org.entraTenantUrl, 'oauth-tenant-url'),
      h('p', { class: 'hint' }, 'Metadata (RFC 8414): ', h('code', { text: info.metadata }))),
    h('section', { class: 'card', 'aria-labelledby': 'new-client-title' },
      h('h2', { id: 'new-client-title', text: 'Create a client' }),
      h('p', { class: 'hint', text: 'An IdP trades a client secret or a signed assertion for an access token at the token endpoint, then calls the SCIM API with it.' }),
      form, err),
    h('div', { id: 'new-client', 'aria-live': 'polite' }),
    h('section', { class: 'card', 'aria-labelledby': 'clients-title' },
      h('h2', { id: 'clients-title', text: 'Clients' }),
      rows.length ? table(['Name', 'Client ID', 'Kind', 'Secrets or federation', 'Last used', 'State', ''], rows, 'OAuth clients', 'clients-table')
        : h('p', { text: 'No clients yet.' })),
    entraSetup(info),
  );
}

register('clients', { label: 'OAuth clients', order: 25, list: viewClients });
