// The example page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// against a live gateway behind Vite's proxy. tests/test_example_frontend.py starts both and sets
// APP_URL; the gateway's scripted model answers, in order: a find (the question), a find + insert
// (the change), then three plans naming an unknown field (PLAN_INVALID after two repairs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const APP_URL = process.env.APP_URL;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!APP_URL) throw new Error('set APP_URL to the running app, e.g. http://127.0.0.1:5173/');

const titles = (rows) => rows.locator('tr td:first-child').allInnerTexts();

test('the page lists tasks, asks and changes in plain words, and shows errors', async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(APP_URL);

    // The listing: `tasks` without q, no model call.
    const list = page.locator('#tasks');
    await list.getByText('Push notifications').waitFor({ timeout: 15000 });
    assert.deepEqual((await titles(list)).sort(), ['Fix login', 'Push notifications', 'Write docs']);

    // A question: query Ask($q) { tasks(q: $q) }, the scripted model plans a find.
    await page.getByLabel('Ask in plain words').fill('high priority tasks');
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.locator('#ask-trace .ops').waitFor({ timeout: 15000 });
    assert.match(await page.locator('#ask-trace .ops').innerText(), /^plan: find Task · scripted.* \d+ ms · 1 attempt/);
    assert.deepEqual((await titles(page.locator('#ask-result'))).sort(), ['Fix login', 'Push notifications']);
    assert.match(await page.locator('#ask-trace pre').textContent(), /"op": "find"/);
    assert.equal(await page.locator('#ask-error').innerText(), '');

    // A change: mutation Change($q) { tasks(q: $q) }, a find then an insert; the list reloads.
    await page.getByLabel('Change in plain words').fill("add 'Water plants' to the Website project");
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#change-trace .ops').waitFor({ timeout: 15000 });
    assert.match(await page.locator('#change-trace .ops').innerText(), /^plan: find Project → insert Task/);
    assert.deepEqual(await page.locator('#change-result tr td').allInnerTexts(),
      ['Water plants', 'TODO', 'LOW', 'Website']);
    await list.getByText('Water plants').waitFor({ timeout: 15000 });
    assert.equal((await titles(list)).length, 4);

    // An error: the model keeps naming a field Task does not have; the code shows in the page.
    await page.getByLabel('Ask in plain words').fill('red tasks');
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.locator('#ask-error').getByText('PLAN_INVALID').waitFor({ timeout: 15000 });
    assert.equal(await page.locator('#ask-result tr').count(), 0);
    assert.equal(await page.locator('#ask-trace').innerText(), '');

    assert.deepEqual(pageErrors, []);
    if (process.env.APP_SCREENSHOT) await page.screenshot({ path: process.env.APP_SCREENSHOT, fullPage: true });
  } finally {
    await browser.close();
  }
});
