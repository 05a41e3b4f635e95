// The Schemas view (#/schemas): declared schema extensions (RFC 7643 §7) and the undeclared
// attributes an IdP sends. Server data is only ever shown as text.

import { h, show, toast, timeEl, badge, table, errorLine, fail, busy, confirmAction } from './dom.js';
import { api, orgPath } from './api.js';
import { register } from './views.js';

async function viewSchemas() {
  const data = await api('GET', orgPath('/schemas'));
  const err = errorLine('schema-error');
  const listErr = errorLine('schema-list-error');
  const text = h('textarea', {
    id: 'schema-text', rows: 12, class: 'mono', spellcheck: 'false',
    placeholder: '{"id": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",\n "attributes": [{"name": "costCenter", "type": "string"}]}',
  });
  const file = h('input', { id: 'schema-file', type: 'file', accept: '.json,application/json' });
  file.addEventListener('change', async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    if (f.size > 256 * 1024) { err.textContent = 'That file is over 256 KiB; a schema is a few KiB.'; return; }
    text.value = await f.text();
    err.textContent = '';
  });
  const type = h('select', { id: 'schema-type' }, h('option', { value: 'User', text: 'User' }), h('option', { value: 'Group', text: 'Group' }));
  const declare = h('button', { type: 'submit', class: 'primary', text: 'Declare' });
  const form = h('form', { class: 'schema-form', novalidate: true },
    h('label', { for: 'schema-file', text: 'Upload a schema file' }), file,
    h('label', { for: 'schema-text', text: 'or paste it (RFC 7643 §7 JSON)' }), text,
    h('div', {}, h('label', { for: 'schema-type', text: 'Extends' }), type),
    declare);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!text.value.trim()) { err.textContent = 'Paste a schema or choose a file first.'; text.focus(); return; }
    try {
      const made = await busy(declare, () => api('POST', orgPath('/schemas'), { schema: text.value, resourceType: type.value }), 'Declaring…');
      toast(`Declared ${made.id}`);
      await viewSchemas();
      document.getElementById('schema-text').focus();
    } catch (ex) { fail(err, ex); text.focus(); }
  });
  const rows = data.schemas.map((s) => {
    const remove = h('button', { type: 'button', class: 'danger', text: 'Remove', 'aria-label': `Remove ${s.id}` });
    remove.addEventListener('click', async () => {
      const force = s.carriers > 0;
      const ok = await confirmAction({
        title: `Remove ${s.id}?`,
        consequence: force
          ? `${s.carriers} resource${s.carriers === 1 ? ' carries values' : 's carry values'} for it: removing it drops those values (each change is audited), and IdPs no longer see it in /Schemas. Values the IdP sends under it are dropped from then on.`
          : 'IdPs no longer see it in /Schemas, and values they send under it are dropped from then on.',
        confirm: force ? 'Remove and drop the values' : 'Remove',
      });
      if (!ok) return;
      listErr.textContent = '';
      try {
        await busy(remove, () => api('DELETE', orgPath(`/schemas/${encodeURIComponent(s.id)}${force ? '?force=true' : ''}`)), 'Removing…');
        toast(`Removed ${s.id}`);
        await viewSchemas();
      } catch (ex) { fail(listErr, ex); }
    });
    const attrs = ((s.schema && s.schema.attributes) || []).map((a) => `${a.name} (${a.type}${a.multiValued ? ', multi' : ''}${a.required ? ', required' : ''})`);
    return h('tr', { 'data-schema': s.id },
      h('td', { class: 'mono small', text: s.id }),
      h('td', { text: s.resourceType }),
      h('td', { text: attrs.join(', ') }),
      h('td', {}, badge(s.required ? 'required' : 'optional', s.required ? 'warn' : 'off')),
      h('td', { text: String(s.carriers) }),
      h('td', {}, remove));
  });
  const dropped = data.undeclared.map((d) => {
    const [urn, name] = splitPath(d.path);
    return h('li', { 'data-undeclared': d.path },
      h('span', {}, 'The IdP sends ', h('code', { text: name }), urn ? ' (' : '', urn ? h('span', { class: 'mono small', text: urn }) : '', urn ? ')' : '',
        `, which this organization does not declare: dropped ${d.count} ${d.count === 1 ? 'time' : 'times'}, last `, timeEl(d.lastSeen), '.'));
  });
  show(
    h('h1', { text: 'Schemas' }),
    h('section', { class: 'card', 'aria-labelledby': 'undeclared-title' },
      h('h2', { id: 'undeclared-title', text: 'Undeclared attributes' }),
      dropped.length ? h('ul', { class: 'undeclared' }, dropped)
        : h('p', { class: 'muted', text: 'No request since the server started sent an attribute under an undeclared extension.' })),
    h('section', { class: 'card', 'aria-labelledby': 'schemas-title' },
      h('h2', { id: 'schemas-title', text: 'Declared extensions' }),
      h('p', { class: 'hint', text: 'Declared extensions appear in /Schemas and /ResourceTypes; their values are validated, stored, returned, filterable and sortable. Values under other extension URNs are dropped.' }),
      rows.length ? table(['URN', 'Extends', 'Attributes', 'Extension', 'Carriers', ''], rows, 'Declared extensions')
        : h('p', { text: 'No extension declared yet.' }),
      listErr),
    h('section', { class: 'card', 'aria-labelledby': 'declare-title' },
      h('h2', { id: 'declare-title', text: 'Declare an extension' }),
      form, err),
  );
}

/** `urn:…:User:costCenter` → [`urn:…:User`, `costCenter`]. */
function splitPath(path) {
  const at = path.lastIndexOf(':');
  return at > 0 && path.startsWith('urn:') ? [path.slice(0, at), path.slice(at + 1)] : ['', path];
}

register('schemas', { label: 'Schemas', order: 80, list: viewSchemas });
