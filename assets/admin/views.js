// The view registry and the URL. Each view module calls `register` once; app.js routes
// `#/<section>[/<id>][?params]` to it. Page state lives in the URL, so reload, back and a
// pasted link all work.
//
// A new view (another file under assets/admin/) is one import line in app.js plus:
//   register('clients', { label: 'Clients', order: 50, list: viewClients, detail: viewClient });
// `label` adds a link to the top navigation, sorted by `order` (Organization 10, Tokens 20,
// OAuth clients 25, Users 30, Teams 40, Access 45, Activity 60, Events 70, Schemas 80); `list(params)` draws `#/clients?…`, and the optional
// `detail(id, params)` draws `#/clients/<id>?…`. Both may be async and throw; app.js shows
// the error.

export const views = new Map();

export function register(section, view) {
  views.set(section, view);
}

/** The current route: section, id and the query parameters. */
export function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { section: parts[0] || 'org', id: parts[1], params: new URLSearchParams(query || '') };
}

/** The hash for a route; empty parameters are left out. */
export function href(section, id, params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== '' && v !== null && v !== undefined && v !== false) p.set(k, String(v));
  }
  const q = p.toString();
  return `#/${section}${id ? `/${encodeURIComponent(id)}` : ''}${q ? `?${q}` : ''}`;
}

let keepFocus = null;
/** Goes to a route (a history entry, so back works), keeping focus on the element that
 *  asked (a search box, a pager button) once the view is drawn again. */
export function navigate(section, id, params) {
  keepFocus = document.activeElement && document.activeElement.id ? document.activeElement.id : null;
  const next = href(section, id, params);
  if (location.hash === next) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = next;
}

/** The element id to focus after the coming render, once. */
export function takeFocus() {
  const id = keepFocus;
  keepFocus = null;
  return id;
}
