// The admin JSON API, and the page state every view shares.

export const state = {
  session: null, // {admin, csrfToken, expires, roles}
  orgs: [],
  org: null, // the selected organization
  notice: '', // a message for the sign-in page (e.g. "your session has expired")
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onSignedOut = () => {};
/** What to do when the server says the session ended (app.js shows the sign-in page). */
export function whenSignedOut(fn) { onSignedOut = fn; }

export async function api(method, path, body) {
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
      onSignedOut();
    }
    throw err;
  }
  return data;
}

export const orgPath = (rest) => `/orgs/${encodeURIComponent(state.org.id)}${rest || ''}`;
