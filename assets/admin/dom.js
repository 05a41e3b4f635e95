// Small DOM helpers shared by every view. Data from the server is only ever put on the page
// as text (textContent, input values, attributes), never as HTML.

/** Makes an element. `attrs` keys: class, text, value, on<event>, others as attributes
 *  (false/null skip). Children: nodes or strings (strings become text). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function main() { return document.getElementById('main'); }

export function show(...nodes) {
  const m = main();
  m.removeAttribute('aria-busy');
  m.replaceChildren(...nodes);
}

/** Replaces the page with a loading line while a view fetches (old content never lingers). */
export function loading() {
  const m = main();
  m.setAttribute('aria-busy', 'true');
  m.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
}

export function toast(message) {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.classList.add('visible');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('visible'), 4000);
}

export function when(ts) {
  if (!ts) return 'never';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function timeEl(ts) {
  return ts ? h('time', { datetime: ts, title: ts, text: when(ts) }) : h('span', { class: 'muted', text: 'never' });
}

export function badge(text, kind) { return h('span', { class: `badge ${kind || ''}`, text }); }

export function table(headers, rows, caption, cls) {
  // On a phone each row becomes a card and each cell is labelled with its column (CSS).
  for (const row of rows) {
    [...row.children].forEach((td, i) => { if (headers[i]) td.dataset.label = headers[i]; });
  }
  return h('div', { class: 'table-wrap' },
    h('table', { class: cls || null },
      caption ? h('caption', { class: 'sr-only', text: caption }) : null,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', {}, rows)));
}

/** A form's error line, announced when it changes. */
export function errorLine(id) {
  return h('p', { class: 'error', role: 'alert', id });
}

export function fail(p, err) {
  p.textContent = err && err.message ? err.message : String(err);
}

/** Runs `fn` with `button` disabled and marked busy, its label saying so; gives the label back. */
export async function busy(button, fn, label) {
  const text = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (label) button.textContent = label;
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = text;
  }
}

/** Asks before a change with consequences: a modal dialog that states them. Resolves true
 *  when confirmed. Focus starts on Cancel and returns where it was. */
export function confirmAction({ title, consequence, confirm, danger }) {
  const back = document.activeElement;
  return new Promise((resolve) => {
    const cancelBtn = h('button', { type: 'button', id: 'confirm-cancel', text: 'Cancel' });
    const okBtn = h('button', { type: 'button', id: 'confirm-ok', class: danger === false ? 'primary' : 'danger', text: confirm });
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      h('h2', { id: 'confirm-title', text: title }),
      h('p', { id: 'confirm-text', text: consequence }),
      h('div', { class: 'row' }, cancelBtn, okBtn));
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      if (back && back.focus) back.focus();
      resolve(answer);
    };
    cancelBtn.addEventListener('click', () => done(false));
    okBtn.addEventListener('click', () => done(true));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancelBtn.focus();
  });
}

/** Copies text; falls back to selecting it when the Clipboard API is unavailable
 *  (plain http on another host is not a secure context). */
export async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard');
  } catch {
    if (input) {
      input.focus();
      input.select();
      const ok = document.execCommand && document.execCommand('copy');
      toast(ok ? 'Copied to the clipboard' : 'Selected: press Ctrl+C (⌘C) to copy');
    } else {
      toast('Copying is not available here; select the text and copy it');
    }
  }
}

export function copyField(label, value, id) {
  const input = h('input', { id, value, readonly: true, class: 'mono', spellcheck: 'false' });
  return h('div', { class: 'copy-field' },
    h('label', { for: id, text: label }),
    h('div', { class: 'row' }, input,
      h('button', { type: 'button', onclick: () => copy(value, input), 'aria-label': `Copy ${label}`, text: 'Copy' })));
}

/** A button that is off, with the reason shown beside it (and read by screen readers). */
export function gated(can, button) {
  if (can && can.allowed) return button;
  const id = `why-${Math.random().toString(36).slice(2)}`;
  button.disabled = true;
  button.setAttribute('aria-describedby', id);
  return h('span', { class: 'gated' }, button, h('span', { class: 'why', id, text: can ? can.reason : '' }));
}

/** Previous / "a–b of n" / Next. `go(start)` moves. */
export function pager(start, shown, total, size, go, label) {
  const first = total ? start + 1 : 0;
  const last = start + shown;
  const prev = h('button', { type: 'button', class: 'pager-prev', text: '← Previous', disabled: start === 0 });
  const next = h('button', { type: 'button', class: 'pager-next', text: 'Next →', disabled: last >= total });
  prev.addEventListener('click', () => go(Math.max(0, start - size)));
  next.addEventListener('click', () => go(start + size));
  return h('nav', { class: 'pager', 'aria-label': label || 'Pages' }, prev,
    h('span', { class: 'pager-count', text: `${first}–${last} of ${total}` }), next);
}

/** A labelled field in an inline form. */
export function field(label, input) {
  return h('div', {}, h('label', { for: input.id, text: label }), input);
}

export function select(id, options, value) {
  const s = h('select', { id }, options.map(([v, t]) => h('option', { value: v, text: t })));
  s.value = value || '';
  return s;
}

/** A role choice; `withNone` adds "No role" (the empty value) first. */
export function roleSelect(id, roles, value, withNone) {
  const s = h('select', { id });
  if (withNone) s.append(h('option', { value: '', text: 'No role' }));
  for (const r of roles) s.append(h('option', { value: r, text: r }));
  s.value = value || '';
  return s;
}
