// GraphiQL in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// GET /graphql as a browser: the editor opens on examples from the SDL; run one, read the result pane.
// GRAPHIQL_SCREENSHOT names where the screenshot goes (docs/graphiql.png in the repository).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { GATEWAY_URL } from './gateway.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.GRAPHIQL_SCREENSHOT ?? join(tmpdir(), 'graphiql.png');

test('GraphiQL opens on examples from the SDL and runs one', async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 600 } });
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const response = await page.goto(GATEWAY_URL);
    assert.match(response.headers()['content-type'], /text\/html/);

    const editor = page.locator('.graphiql-query-editor .CodeMirror');
    // a fresh browser opens on example operations written from the served SDL
    await editor.getByText('query ListTasks').waitFor({ timeout: 15000 });
    await editor.getByText('"tasks whose status is TODO"').waitFor({ timeout: 15000 });

    // several operations: the run button offers each; the listing runs (this gateway's model has no answers)
    await page.locator('.graphiql-execute-button').click();
    const names = await page.getByRole('menuitem').allInnerTexts();
    assert.deepEqual(names, ['ListTasks', 'FindTasks', 'ChangeTasks']);
    await page.getByRole('menuitem', { name: 'ListTasks' }).click();

    const result = page.locator('.graphiql-response .CodeMirror');
    await result.getByText('Push notifications').waitFor({ timeout: 15000 });
    const text = await result.innerText();
    assert.match(text, /"data"/);
    assert.match(text, /"Fix login"/);
    assert.deepEqual(pageErrors, []);
    await page.screenshot({ path: SCREENSHOT });
  } finally {
    await browser.close();
  }
});
