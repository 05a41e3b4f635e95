// The admin page end to end, in headless Chromium against the real server (started by run.sh):
// sign in, create a token, provision a user and a Team over SCIM with it, find both and the
// requests on the page, switch SCIM on and see Team creation refused, change a Team's
// Workspace role and see a member's effective role change, revoke the token and see SCIM
// answer 401, sign out. Each step is one test; after a failure the rest are reported as
// failed without running. Screenshots of every page go to $SCREENSHOTS.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const origin = need('SCIMBOX_ORIGIN');
const scimBase = need('SCIMBOX_SCIM_BASE');
const password = need('SCIMBOX_ADMIN_PASSWORD');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.SCREENSHOTS || 'test-output/screenshots';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.log(`${name} is not set: run this through tests/browser/run.sh`);
    console.log('browser: 0 passed, 1 failed');
    process.exit(1);
  }
  return v;
}

// ---- A tiny runner ------------------------------------------------------------------------

const results = [];
let broken = null;

async function step(name, fn) {
  if (broken) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name} (not run: "${broken}" failed)`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    broken = name;
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n  ${String(err && err.stack ? err.stack : err).split('\n').slice(0, 6).join('\n  ')}`);
    await shot(`failed-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => {});
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// ---- The browser --------------------------------------------------------------------------

mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'scimbox-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(10_000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
page.on('dialog', (d) => d.accept());
// Nothing may be fetched from anywhere but scimbox: the page must work offline.
const foreign = [];
page.on('request', (r) => {
  const u = r.url();
  if (!u.startsWith(origin) && !u.startsWith('data:')) foreign.push(u);
});

let shotNo = 0;
async function shot(name) {
  shotNo += 1;
  const file = join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function go(hash) {
  await page.goto(`${origin}/admin/${hash}`);
  await page.locator('main h1').first().waitFor();
}

async function heading() {
  return (await page.locator('main h1').first().textContent()).trim();
}

async function waitText(locator, text) {
  await locator.filter({ hasText: text }).first().waitFor();
}

// SCIM calls as an IdP makes them, from Node.
let token = '';
async function scim(method, path, body, bearer = token) {
  const res = await fetch(`${scimBase}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${bearer}`,
      'Content-Type': 'application/scim+json; charset=utf-8',
      'User-Agent': 'Okta SCIM Client 1.0.0',
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

const stamp = Date.now().toString(36);
const userName = `ada.${stamp}@example.com`;
const evilName = '<img src=x onerror="window.__pwned=1">Ada';
const teamName = `Engineering ${stamp}`;
let userId = '';
let teamId = '';

// ---- The scenario -------------------------------------------------------------------------

await step('sign in (a wrong password first, then the right one with the keyboard)', async () => {
  await page.goto(`${origin}/admin/`);
  await page.locator('#sign-in-form').waitFor();
  await shot('sign-in');
  await page.fill('#sign-in-password', 'not the password');
  await page.press('#sign-in-password', 'Enter');
  await waitText(page.locator('#sign-in-error'), 'wrong name or password');
  await page.fill('#sign-in-password', password);
  await page.press('#sign-in-password', 'Enter');
  await page.locator('h1', { hasText: 'Organization' }).waitFor();
  const url = await page.inputValue('#scim-url');
  check(url === scimBase, `the page shows SCIM base URL ${url}, expected ${scimBase}`);
  const entra = await page.inputValue('#entra-url');
  check(entra === `${scimBase}?aadOptscim062020`, `Entra URL is ${entra}`);
  await shot('organization');
});

await step('create a token (shown once, with copy)', async () => {
  await go('#/tokens');
  await page.fill('#token-name', '');
  await page.click('#new-token-title ~ form button[type=submit]');
  await waitText(page.locator('#token-error'), 'Enter a name');
  await page.fill('#token-name', `okta-${stamp}`);
  await page.click('#new-token-title ~ form button[type=submit]');
  await page.locator('#token-value').waitFor();
  token = await page.inputValue('#token-value');
  check(/^sbx_[0-9a-f]+_[0-9a-f]+$/.test(token), `unexpected token ${token}`);
  await page.getByRole('button', { name: 'Copy Bearer token' }).click();
  await waitText(page.locator(`tr[data-token="okta-${stamp}"]`), 'live');
  await shot('tokens');
});

await step('provision a user and a Team over SCIM with the token', async () => {
  const u = await scim('POST', '/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName,
    name: { givenName: 'Ada', familyName: 'Lovelace' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: evilName,
    password: 'hunter2-secret',
    active: true,
  });
  check(u.status === 201, `POST /Users answered ${u.status}: ${JSON.stringify(u.json)}`);
  userId = u.json.id;
  const g = await scim('POST', '/Groups', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName: teamName,
    members: [{ value: userId }],
  });
  check(g.status === 201, `POST /Groups answered ${g.status}: ${JSON.stringify(g.json)}`);
  teamId = g.json.id;
  const dup = await scim('POST', '/Users', { userName, active: true });
  check(dup.status === 409, `a duplicate user answered ${dup.status}`);
});

await step('see the user (HTML in the name shown as text) and the Team on the page', async () => {
  await go('#/users');
  await page.fill('#user-q', `ada.${stamp}`);
  await page.press('#user-q', 'Enter');
  const row = page.locator(`tr[data-user="${userName}"]`);
  await row.waitFor();
  const shown = await row.locator('td').nth(1).textContent();
  check(shown === evilName, `display name shown as ${JSON.stringify(shown)}`);
  check(await page.locator('main img').count() === 0, 'HTML from a user name became an element');
  check(!(await page.evaluate(() => window.__pwned)), 'script from a user name ran');
  await waitText(row, teamName);
  await shot('users');
  await row.getByRole('link').click();
  await page.locator('#user-title').waitFor();
  check((await heading()) === evilName, 'the user page title is not the literal name');
  await page.locator('#teams-title ~ ul a', { hasText: teamName }).waitFor();
  const raw = await page.locator('pre.json').textContent();
  check(raw.includes(`"userName": "${userName}"`), 'the raw SCIM JSON is missing userName');
  check(!raw.includes('hunter2-secret'), 'the password is in the SCIM JSON');
  await shot('user');
  await go('#/teams');
  const team = page.locator(`tr[data-team="${teamName}"]`);
  await waitText(team, 'SCIM');
  check((await team.locator('td').nth(2).textContent()) === '1', 'the Team should have 1 member');
});

await step('see the SCIM requests in the inspector, filter the failing one', async () => {
  await go('#/activity');
  const rows = page.locator('#requests tbody tr');
  await rows.first().waitFor();
  const texts = await rows.allTextContents();
  check(texts.some((t) => t.includes('POST') && t.includes('/Users') && t.includes('201')), 'no POST /Users 201');
  check(texts.some((t) => t.includes('POST') && t.includes('/Groups') && t.includes('201')), 'no POST /Groups 201');
  await page.selectOption('#request-status', '4');
  // The filtered list replaces the whole one: wait until only 4xx rows are left.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#requests tbody tr')];
    return rows.length > 0 && rows.every((r) => r.dataset.status.startsWith('4'));
  });
  const failing = page.locator('#requests tbody tr[data-status="409"]').first();
  await failing.locator('summary').click();
  await waitText(failing.locator('pre'), 'uniqueness');
  await page.selectOption('#request-status', '');
  await page.locator('#requests tbody tr[data-status="201"]').first().waitFor();
  const body = await page.locator('main').textContent();
  check(!body.includes('hunter2-secret'), 'a password is visible in the inspector');
  check(!body.includes(token), 'the bearer token is visible in the inspector');
  await waitText(page.locator('#audit tbody tr'), `token:okta-${stamp}`);
  await shot('activity');
});

await step('switch SCIM off, create a local Team, switch SCIM on and see Team creation refused', async () => {
  await go('#/org');
  check(await page.isChecked('#scim-switch'), 'SCIM should start on');
  await page.click('#scim-switch');
  await waitText(page.locator('#scim-explain'), 'Off:');
  await go('#/teams');
  check(await page.isEnabled('#team-create'), 'Create Team should be open while SCIM is off');
  await page.fill('#team-name', `Local ${stamp}`);
  await page.click('#team-create');
  await page.locator('#team-title', { hasText: `Local ${stamp}` }).waitFor();
  await go('#/org');
  await page.locator('#scim-switch').focus();
  await page.keyboard.press('Space');
  await waitText(page.locator('#scim-explain'), 'On:');
  await go('#/teams');
  check(await page.isDisabled('#team-create'), 'Create Team should be disabled while SCIM is on');
  const why = await page.locator('#team-create + .why').textContent();
  check(why.includes('SCIM provisioning is on'), `the reason shown is ${JSON.stringify(why)}`);
  // The IdP can still make Teams.
  const g = await scim('POST', '/Groups', { displayName: `Pushed ${stamp}` });
  check(g.status === 201, `the IdP could not create a Team: ${g.status}`);
  await shot('teams-scim-on');
});

await step("change a Team's Workspace role and see the member's effective role change", async () => {
  await go('#/teams');
  await page.fill('#ws-name', `Production ${stamp}`);
  await page.click('#ws-title ~ form button[type=submit]');
  await page.locator(`tr[data-workspace="Production ${stamp}"]`).waitFor();
  await go(`#/users/${userId}`);
  await waitText(page.locator('#effective-access'), 'No Workspace roles');
  await go(`#/teams/${teamId}`);
  check(await page.isDisabled('#member-add'), 'adding members should be refused while SCIM is on');
  await waitText(page.locator('.why'), 'members are added by the IdP');
  const row = page.locator(`tr[data-workspace="Production ${stamp}"]`);
  await row.locator('select').selectOption('WORKSPACE_OPERATOR');
  await row.getByRole('button').click();
  await waitText(page.locator('#toast'), 'saved');
  await shot('team');
  await go(`#/users/${userId}`);
  const role = page.locator(`#effective-access tr[data-workspace="Production ${stamp}"] .role`);
  await role.waitFor();
  check((await role.textContent()) === 'WORKSPACE_OPERATOR', 'the effective role did not change');
  await shot('user-effective-role');
});

await step('read well on a phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, name] of [['#/org', 'phone-organization'], ['#/users', 'phone-users'], ['#/activity', 'phone-activity']]) {
    await go(hash);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `${hash} is ${overflow}px wider than a phone`);
    await shot(name);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

await step('see an undeclared attribute marked, declare its schema (errors shown), then keep its values', async () => {
  const urn = 'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User';
  const body = (name) => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', urn], userName: name, [urn]: { costCenter: 'CC-7' } });
  const first = await scim('POST', '/Users', body(`cc1.${stamp}@example.com`));
  check(first.status === 201 && !first.json[urn], `undeclared values kept: ${JSON.stringify(first.json)}`);
  await go('#/schemas');
  await waitText(page.locator('ul.undeclared li'), 'costCenter');
  await page.fill('#schema-text', JSON.stringify({ id: urn, attributes: [{ name: 'costCenter', type: 'text' }] }));
  await page.click('.schema-form button[type=submit]');
  await waitText(page.locator('#schema-error'), 'attributes[0].type');
  await page.fill('#schema-text', JSON.stringify({ id: urn, attributes: [{ name: 'costCenter', type: 'string' }] }));
  await page.click('.schema-form button[type=submit]');
  await page.locator(`tr[data-schema="${urn}"]`).waitFor();
  const second = await scim('POST', '/Users', body(`cc2.${stamp}@example.com`));
  check(second.status === 201 && second.json[urn] && second.json[urn].costCenter === 'CC-7', `declared values dropped: ${JSON.stringify(second.json)}`);
  await go('#/activity');
  await page.locator('#requests tbody tr').first().waitFor();
  const marked = page.locator('#requests tbody tr', { hasText: 'dropped' }).first();
  await marked.locator('summary').click();
  await waitText(marked.locator('p.dropped'), `${urn}:costCenter`);
  await shot('schemas');
});

await step('revoke the token and see the SCIM API answer 401', async () => {
  await go('#/tokens');
  const row = page.locator(`tr[data-token="okta-${stamp}"]`);
  await row.getByRole('button', { name: /Revoke/ }).click();
  await waitText(page.locator(`tr[data-token="okta-${stamp}"]`), 'revoked');
  const r = await scim('GET', '/Users');
  check(r.status === 401, `SCIM answered ${r.status} to a revoked token`);
  await shot('tokens-revoked');
});

await step('sign out', async () => {
  await page.click('#sign-out');
  await waitText(page.locator('#sign-in-error'), 'You have signed out');
  const status = await page.evaluate(() => fetch('/admin/api/session').then((r) => r.status));
  check(status === 401, `the session still answers ${status} after sign-out`);
  await shot('signed-out');
});

await step('no script errors and nothing fetched from the network', async () => {
  check(pageErrors.length === 0, `script errors: ${pageErrors.join('; ')}`);
  check(foreign.length === 0, `requests outside scimbox: ${foreign.join(', ')}`);
});

await context.close();
rmSync(profile, { recursive: true, force: true });

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
if (failed && process.env.SERVER_LOG) {
  try {
    const log = readFileSync(process.env.SERVER_LOG, 'utf8').trim().split('\n').slice(-30);
    console.log('--- scimbox log (last 30 lines) ---');
    console.log(log.join('\n'));
  } catch { /* no log to show */ }
}
console.log(`screenshots: ${shots}`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
