// The admin page end to end, in headless Chromium against the real server (started by run.sh):
// sign in, create a token, provision a user and a Team over SCIM with it, find both and the
// requests on the page, switch SCIM on and see Team creation refused, change a Team's
// Workspace role and see a member's effective role change, give the Team a Deployment role and
// see it explained, rotate the token, revoke it and see SCIM
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
  viewport: { width: 1366, height: 800 },
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

/** Answers the page's confirmation dialog (a <dialog>, not window.confirm): checks that it
 *  states the consequence, then confirms. */
async function confirmDialog(mustSay) {
  const dialog = page.locator('dialog.confirm');
  await dialog.waitFor();
  const text = await dialog.textContent();
  check(text.includes(mustSay), `the confirmation does not say ${JSON.stringify(mustSay)}: ${text}`);
  await shot(`confirm-${mustSay.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
  await page.click('#confirm-ok');
  await dialog.waitFor({ state: 'detached' });
}
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
  await page.screenshot({ path: file, fullPage: true, timeout: 30_000 });
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

// ---- Events (events.js): a poll receiver, shown once, then its backlog ----------------------
let pollToken = '';
await step('add a poll receiver of SCIM events (token shown once)', async () => {
  await go('#/events');
  check((await heading()) === 'Events', 'the Events page has no Events heading');
  await page.locator('#jwks-uri').waitFor();
  check((await page.inputValue('#jwks-uri')).endsWith('/jwks'), 'no JWKS URL');
  await page.fill('#receiver-url', 'ftp://nowhere');
  await page.click('#new-receiver-title ~ form button[type=submit]');
  await waitText(page.locator('#receiver-error'), 'https');
  await page.fill('#receiver-url', `https://app-${stamp}.example.com/events`);
  await page.selectOption('#receiver-mode', 'poll');
  await page.click('#new-receiver-title ~ form button[type=submit]');
  await page.locator('#receiver-token').waitFor();
  pollToken = await page.inputValue('#receiver-token');
  check(pollToken.startsWith('sbe_'), `unexpected poll token ${pollToken}`);
  await shot('events-added');
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

await step('see the events waiting for the poll receiver', async () => {
  await go('#/org'); // the page is on #/events already: leave it so it loads again
  await go('#/events');
  const row = page.locator('tr[data-receiver]', { hasText: `app-${stamp}.example.com` });
  await row.waitFor();
  await waitText(row, 'poll, notice');
  const backlog = Number(await row.locator('td').nth(3).textContent());
  check(backlog >= 3, `backlog ${backlog}: a user, a Team and its member should be waiting`);
  check(!(await page.content()).includes(pollToken), 'the poll token is shown again');
  await shot('events');
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
  const rows = page.locator('#requests tbody tr[data-status]');
  await rows.first().waitFor();
  const texts = await rows.allTextContents();
  check(texts.some((t) => t.includes('POST') && t.includes('/Users') && t.includes('201')), 'no POST /Users 201');
  check(texts.some((t) => t.includes('POST') && t.includes('/Groups') && t.includes('201')), 'no POST /Groups 201');
  await page.selectOption('#request-status', '4');
  // The filtered list replaces the whole one: wait until only 4xx rows are left.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#requests tbody tr[data-status]')];
    return rows.length > 0 && rows.every((r) => r.dataset.status.startsWith('4'));
  });
  check(page.url().includes('status=4'), `the filter is not in the URL: ${page.url()}`);
  const failing = page.locator('#requests tbody tr[data-status="409"]').first();
  await failing.getByRole('button', { name: 'Bodies' }).click();
  const bodies = page.locator('#requests tbody tr.bodies:not([hidden])').first();
  await waitText(bodies.locator('pre'), 'uniqueness');
  // Reload keeps the filter; back goes to the unfiltered list.
  await page.reload();
  await page.locator('#requests tbody tr[data-status="409"]').first().waitFor();
  check((await page.inputValue('#request-status')) === '4', 'the status filter was lost on reload');
  await page.goBack();
  await page.locator('#requests tbody tr[data-status="201"]').first().waitFor();
  const body = await page.locator('main').textContent();
  check(!body.includes('hunter2-secret'), 'a password is visible in the inspector');
  check(!body.includes(token), 'the bearer token is visible in the inspector');
  await shot('activity');
  await page.click('#tab-audit');
  await waitText(page.locator('#audit tbody tr'), `token:okta-${stamp}`);
  await shot('activity-audit');
});

await step('switch SCIM off, create a local Team, switch SCIM on and see Team creation refused', async () => {
  await go('#/org');
  check(await page.isChecked('#scim-switch'), 'SCIM should start on');
  // Cancelling changes nothing.
  await page.click('#scim-switch');
  await page.locator('dialog.confirm').waitFor();
  await page.click('#confirm-cancel');
  check(await page.isChecked('#scim-switch'), 'cancelled, SCIM should still be on');
  await page.click('#scim-switch');
  await confirmDialog('403');
  await waitText(page.locator('#scim-explain'), 'Off:');
  await go('#/teams');
  // Every page says that SCIM is off.
  await waitText(page.locator('#scim-banner'), 'SCIM provisioning is off');
  const off = await scim('GET', '/Users');
  check(off.status === 403, `SCIM answered ${off.status} while off`);
  await shot('teams-scim-off-banner');
  check(await page.isEnabled('#team-create'), 'Create Team should be open while SCIM is off');
  await page.fill('#team-name', `Local ${stamp}`);
  await page.click('#team-create');
  await page.locator('#team-title', { hasText: `Local ${stamp}` }).waitFor();
  await go('#/org');
  await page.locator('#scim-switch').focus();
  await page.keyboard.press('Space');
  await waitText(page.locator('#scim-explain'), 'On:');
  check(await page.locator('#scim-banner').isHidden(), 'the SCIM-off banner stays after SCIM is on');
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
  const from = await page.locator(`#effective-access tr[data-workspace="Production ${stamp}"] .role-source`).textContent();
  check(from.includes(`Team ${teamName}`), `the role's source reads ${JSON.stringify(from)}`);
  await shot('user-effective-role');
});

await step('give a Team a Deployment role, see it explained, rotate the token', async () => {
  await go('#/access');
  await page.fill('#deployment-name', `etl-${stamp}`);
  await page.click('#deployments-title ~ form button[type=submit]');
  await page.locator(`tr[data-deployment="etl-${stamp}"]`).waitFor();
  await shot('access');
  await go(`#/teams/${teamId}`);
  const row = page.locator(`#team-deployments tr[data-deployment="etl-${stamp}"]`);
  await row.locator('select').selectOption('DEPLOYMENT_ADMIN');
  await row.getByRole('button').click();
  await waitText(page.locator('#toast'), 'saved');
  await go(`#/users/${userId}`);
  const role = page.locator(`#effective-access tr[data-deployment="etl-${stamp}"] .role`);
  await role.waitFor();
  check((await role.textContent()) === 'DEPLOYMENT_ADMIN', 'the Deployment role is not shown');
  const from = await page.locator(`#effective-access tr[data-deployment="etl-${stamp}"] .role-source`).textContent();
  check(from.includes('Team'), `the source is not the Team: ${from}`);
  await shot('user-effective-deployment');
  await go('#/tokens');
  const t = page.locator(`tr[data-token="okta-${stamp}"]`);
  await t.locator('select').selectOption('60');
  await t.getByRole('button', { name: /Rotate/ }).click();
  await confirmDialog('1 hour');
  await page.locator('#token-value').waitFor();
  const fresh = await page.inputValue('#token-value');
  check(fresh && fresh !== token, 'no new secret was shown');
  check((await scim('GET', '/Users')).status === 200, 'the old secret should work during its grace');
  check((await scim('GET', '/Users', undefined, fresh)).status === 200, 'the new secret does not work');
  await shot('tokens-rotated');
});

// ---- The console tasks: an hour of IdP traffic, then find things in it ------------------

let bigTeamId = '';
let reviewersId = '';
let failingToken = '';
let patchAt = { from: '', until: '' };
const bobName = 'Bob Okafor';

async function many(n, fn, width = 25) {
  for (let i = 0; i < n; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => fn(i + j)));
  }
}

await step('generate an hour of IdP traffic: 1,000 users in a Team, a PATCH among hundreds of GETs, a failing token', async () => {
  const ops = Array.from({ length: 1000 }, (_, i) => ({
    method: 'POST', path: '/Users', bulkId: `u${i}`,
    data: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: `m${String(i).padStart(4, '0')}.${stamp}@example.com`,
      // Several members share a display name, as in the demo: userName tells them apart.
      displayName: `Member ${i % 500}`, active: i % 97 !== 0,
    },
  }));
  const bulk = await scim('POST', '/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: ops });
  check(bulk.status === 200, `Bulk answered ${bulk.status}`);
  const ids = bulk.json.Operations.map((o) => o.location.split('/').pop());
  check(ids.length === 1000, `Bulk made ${ids.length} users`);
  const big = await scim('POST', '/Groups', { displayName: `Everyone ${stamp}`, members: ids.map((value) => ({ value })) });
  check(big.status === 201, `the 1,000-member group answered ${big.status}`);
  bigTeamId = big.json.id;
  const bob = await scim('POST', '/Users', { userName: `bob.${stamp}@example.com`, displayName: bobName, active: true });
  check(bob.status === 201, `POST Bob answered ${bob.status}`);
  const reviewers = await scim('POST', '/Groups', { displayName: `Reviewers ${stamp}`, members: [{ value: bob.json.id }] });
  reviewersId = reviewers.json.id;
  await many(200, async (i) => {
    const r = await scim('GET', `/Users?count=10&startIndex=${1 + (i % 50) * 10}`);
    check(r.status === 200, `GET answered ${r.status}`);
  });
  await new Promise((r) => setTimeout(r, 1100));
  patchAt.from = new Date().toISOString();
  const patch = await scim('PATCH', `/Groups/${reviewersId}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [
      { op: 'add', path: 'members', value: [{ value: userId }] },
      { op: 'remove', path: `members[value eq "${bob.json.id}"]` },
    ],
  });
  check(patch.status === 204 || patch.status === 200, `PATCH answered ${patch.status}`);
  await new Promise((r) => setTimeout(r, 1100));
  patchAt.until = new Date().toISOString();
  await many(200, async () => { await scim('GET', `/Groups?filter=${encodeURIComponent(`displayName eq "Reviewers ${stamp}"`)}`); });
  // A second IdP whose every call fails: a filter scimbox cannot read.
  await go('#/tokens');
  await page.fill('#token-name', `entra-${stamp}`);
  await page.click('#new-token-title ~ form button[type=submit]');
  // The page may still show the rotated secret of the step before: wait for this token's own.
  await waitText(page.locator('#new-token h2'), `Token entra-${stamp} created`);
  failingToken = await page.inputValue('#token-value');
  await many(12, async () => {
    const r = await scim('GET', '/Users?filter=userName%20zz%20%22x%22', null, failingToken);
    check(r.status === 400, `the bad filter answered ${r.status}`);
  });
});

/** The local `datetime-local` value of a UTC time, as the browser would show it. */
async function localValue(iso) {
  return page.evaluate((t) => {
    const d = new Date(t);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }, iso);
}

async function noOverflow(what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `${what} is ${overflow}px wider than the window`);
  // Nor may a table hide part of itself behind a scroll bar.
  const hidden = await page.evaluate(() => [...document.querySelectorAll('.table-wrap')]
    .filter((w) => w.scrollWidth - w.clientWidth > 1).length);
  check(hidden === 0, `${what}: ${hidden} tables are wider than their box`);
}

async function consoleTasks(label) {
  await step(`${label}: find the PATCH among an hour of requests (method and time range), then its audit entry by name`, async () => {
    await go('#/activity?tab=requests');
    const total = await page.locator('#requests-count').textContent();
    check(/^\d+ requests kept/.test(total) && Number(total.split(' ')[0]) > 400, `the inspector shows ${total}`);
    await page.fill('#req-since', await localValue(patchAt.from));
    await page.fill('#req-until', await localValue(patchAt.until));
    await page.selectOption('#req-method', 'PATCH');
    await page.waitForFunction(() => location.hash.includes('method=PATCH') && location.hash.includes('since=')
      && document.querySelector('#requests-count')?.textContent.includes('match'));
    const rows = page.locator('#requests tbody tr[data-status]');
    await rows.first().waitFor();
    check((await rows.count()) === 1, `${await rows.count()} requests match, expected the one PATCH`);
    check((await rows.first().getAttribute('data-method')) === 'PATCH', 'the match is not the PATCH');
    await noOverflow(`${label} requests`);
    await shot(`${label}-found-patch`);
    await rows.first().locator('.audit-link').click();
    await page.locator('#audit tbody tr[data-action="members"]').waitFor();
    const entry = (await page.locator('#audit tbody tr[data-action="members"]').first().textContent());
    check(entry.includes(`Reviewers ${stamp}`), `the entry does not name the Team: ${entry}`);
    check(entry.includes('added') && entry.includes(userName), `the entry does not name the added member: ${entry}`);
    check(entry.includes(`removed ${bobName}`), `the entry does not say "removed ${bobName}": ${entry}`);
    check(entry.includes('token:okta-') && entry.includes('SCIM PATCH'), `the entry lacks actor or reason: ${entry}`);
    await noOverflow(`${label} audit`);
    await shot(`${label}-audit-entry`);
    // And back from the entry to its request.
    await page.locator('#audit tbody tr[data-action="members"] .request-link').first().click();
    await page.locator('#requests tbody tr[data-method="PATCH"]').waitFor();
    // The Team's own history tab shows the same change.
    await go(`#/teams/${reviewersId}`);
    await waitText(page.locator('#history tbody tr'), `removed ${bobName}`);
  });

  await step(`${label}: sync health flags the failing token and says what to change`, async () => {
    await go('#/activity?tab=health');
    const row = page.locator(`tr[data-token="entra-${stamp}"]`);
    await row.waitFor();
    check((await row.getAttribute('data-warning')) === 'quarantine', `the failing token is marked ${await row.getAttribute('data-warning')}`);
    await waitText(page.locator('#quarantine-warning'), `entra-${stamp}`);
    check((await page.locator(`tr[data-token="okta-${stamp}"]`).getAttribute('data-warning')) === '', 'the healthy token is flagged');
    await waitText(page.locator('.failing-table tbody tr'), 'invalidFilter');
    await waitText(page.locator('.failing-table .advice'), 'filter');
    await noOverflow(`${label} sync health`);
    await shot(`${label}-sync-health`);
  });

  await step(`${label}: page, search and sort a 1,000-member Team`, async () => {
    await go(`#/teams/${bigTeamId}`);
    await waitText(page.locator('#members-title'), 'Members (1000)');
    await waitText(page.locator('#members-box .pager-count'), '1–25 of 1000');
    const first = await page.locator('#members-box tbody tr').first().getAttribute('data-username');
    check(first.startsWith('m0000.'), `the first member is ${first}`);
    await page.click('#members-box .pager-next');
    await waitText(page.locator('#members-box .pager-count'), '26–50 of 1000');
    check(page.url().includes('mstart=25'), 'the member page is not in the URL');
    check((await page.locator('#members-box tbody tr').count()) === 25, 'a page shows 25 members');
    // The disabled reason is said once, not on every row.
    check((await page.locator('#members-box .why').count()) <= 1, 'the disabled reason is repeated');
    await page.fill('#members-q', `m0999.${stamp}`);
    await page.press('#members-q', 'Enter');
    await waitText(page.locator('#members-box .pager-count'), '1–1 of 1');
    check((await page.locator('#members-box tbody tr').first().textContent()).includes(`m0999.${stamp}@example.com`), 'userName is not shown');
    await page.fill('#members-q', 'Member 7');
    await page.press('#members-q', 'Enter');
    await page.waitForFunction(() => location.hash.includes('mq=Member')
      && !document.querySelector('#members-box .pager-count').textContent.endsWith(' of 1'));
    await page.selectOption('#members-sort', 'display');
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('#members-box tbody tr td:nth-child(2)')].map((c) => c.textContent.toLowerCase());
      return location.hash.includes('sort=display') && cells.length > 1 && cells[0] === cells[1];
    });
    const names = await page.locator('#members-box tbody tr td:nth-child(2)').allTextContents();
    check(names.length > 1 && names.every((n, i) => i === 0 || names[i - 1].toLowerCase() <= n.toLowerCase()), `not sorted by name: ${names}`);
    await page.reload();
    await page.locator('#members-box').waitFor();
    check((await page.inputValue('#members-q')) === 'Member 7', 'the member search was lost on reload');
    const roleSelect = await page.locator('#org-role').boundingBox();
    const width = await page.evaluate(() => window.innerWidth);
    check(roleSelect.x + roleSelect.width <= width, 'the Organization-role select is cut off');
    await noOverflow(`${label} Team`);
    await shot(`${label}-big-team`);
    await page.locator('#members-box').screenshot({ path: join(shots, `${label}-big-team-members.png`), timeout: 30_000 });
  });
}

await step("raise a Team's Organization role only after a confirmation that names the consequence", async () => {
  await go(`#/teams/${bigTeamId}`);
  await page.selectOption('#org-role', 'ORGANIZATION_OWNER');
  await page.click('#org-role-save');
  await confirmDialog('1000 members');
  await waitText(page.locator('#toast'), 'Organization role saved');
  check((await page.evaluate(() => document.activeElement.id)) === 'org-role', 'focus did not go back to the role');
});

await step('users at 1366 px: no email or status broken over two lines', async () => {
  await go(`#/users?q=${encodeURIComponent(`${stamp}`)}`);
  await page.locator('.users-table tbody tr').first().waitFor();
  // A cell's text is broken when its line boxes sit at more than one height.
  const broken = await page.evaluate(() => [...document.querySelectorAll('.users-table td:nth-child(1), .users-table td:nth-child(3), .users-table .badge')]
    .filter((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      return tops.size > 1;
    })
    .map((el) => el.textContent));
  check(broken.length === 0, `broken over lines: ${broken.slice(0, 5).join(', ')}`);
  await shot('desktop-users');
});

await consoleTasks('desktop');
await page.setViewportSize({ width: 390, height: 844 });
await consoleTasks('phone');
await page.setViewportSize({ width: 1366, height: 800 });

await step('read well on a phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, name] of [['#/org', 'phone-organization'], ['#/users', 'phone-users'], ['#/activity', 'phone-activity'],
    ['#/activity?tab=audit', 'phone-audit'], ['#/activity?tab=health', 'phone-health'], [`#/teams/${teamId}`, 'phone-team'], [`#/users/${userId}`, 'phone-user'],
    ['#/tokens', 'phone-tokens'], ['#/clients', 'phone-clients'], ['#/access', 'phone-access'], ['#/events', 'phone-events']]) {
    await go(hash);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `${hash} is ${overflow}px wider than a phone`);
    await shot(name);
  }
  await page.setViewportSize({ width: 1366, height: 800 });
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
  await go('#/activity?tab=requests&method=POST');
  await page.locator('#requests tbody tr[data-status]').first().waitFor();
  // The request that sent the undeclared value is marked; its bodies (a row of their own) name it.
  const marked = page.locator('#requests tbody tr[data-status]', { hasText: 'dropped' }).first();
  const open = marked.getByRole('button', { name: 'Bodies' });
  await open.click();
  const bodies = page.locator(`[id="${await open.getAttribute('aria-controls')}"]`);
  await waitText(bodies.locator('p.dropped'), `${urn}:costCenter`);
  await shot('schemas');
});

await step('revoke the token and see the SCIM API answer 401', async () => {
  await go('#/tokens');
  const row = page.locator(`tr[data-token="okta-${stamp}"]`);
  await row.getByRole('button', { name: /Revoke/ }).click();
  await confirmDialog('refused');
  await waitText(page.locator(`tr[data-token="okta-${stamp}"]`), 'revoked');
  const r = await scim('GET', '/Users');
  check(r.status === 401, `SCIM answered ${r.status} to a revoked token`);
  await shot('tokens-revoked');
});

await step('create an OAuth client, trade its secret for an access token, rotate and revoke it', async () => {
  await go('#/clients');
  // go() may return while the previous view is still shown: wait for this view's own field.
  await page.locator('#token-endpoint').waitFor();
  check((await heading()) === 'OAuth clients', 'the clients page has its heading');
  const endpoint = await page.inputValue('#token-endpoint');
  check(endpoint === `${origin}/oauth/token`, `the page shows token endpoint ${endpoint}`);
  await page.fill('#client-name', `entra-${stamp}`);
  await page.click('#new-client-title ~ form button[type=submit]');
  await page.locator('#client-secret-value').waitFor();
  const clientId = await page.inputValue('#client-id-value');
  const secret = await page.inputValue('#client-secret-value');
  check(/^sbc_[0-9a-f]{16}$/.test(clientId) && /^sbs_[0-9a-f]{16}_[0-9a-f]{64}$/.test(secret), 'client id and secret shapes');
  await waitText(page.locator(`tr[data-client="entra-${stamp}"]`), 'live');
  await shot('oauth-clients');
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const grant = await res.json();
  check(res.status === 200 && grant.token_type === 'Bearer', `token endpoint answered ${res.status}`);
  const r = await scim('GET', '/Users', null, grant.access_token);
  check(r.status === 200, `SCIM answered ${r.status} to the access token`);
  const row = page.locator(`tr[data-client="entra-${stamp}"]`);
  await row.getByRole('button', { name: /Add a secret/ }).click();
  await waitText(page.locator('#new-client h2'), `New secret for entra-${stamp}`);
  check((await page.inputValue('#client-secret-value')) !== secret, 'a new secret is shown');
  await page.locator(`tr[data-client="entra-${stamp}"] li[data-secret]`).nth(1).waitFor();
  await page.locator(`tr[data-client="entra-${stamp}"]`).getByRole('button', { name: /Revoke/ }).click();
  await confirmDialog('refused');
  await waitText(page.locator(`tr[data-client="entra-${stamp}"]`), 'revoked');
  const after = await scim('GET', '/Users', null, grant.access_token);
  check(after.status === 401, `SCIM answered ${after.status} to a revoked client's token`);
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
