// The SDK against a real gateway: GATEWAY_URL, started with GATEWAY_API_KEYS holding GATEWAY_API_KEY.
// The scripted model answers, in order, from test/answers.json: an insert, a find, a count of TODO tasks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, planOf, timingsOf } from '../dist/index.js';

const url = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_API_KEY;
const skip = url && apiKey ? false : 'set GATEWAY_URL and GATEWAY_API_KEY to run against a live gateway';
const client = createClient({ url, apiKey });

test('without the API key the gateway answers UNAUTHENTICATED', { skip }, async () => {
  const response = await createClient({ url }).ask('tasks', 'all tasks', 'id');
  assert.equal(response.errors[0].extensions.code, 'UNAUTHENTICATED');
});

test('ask a mutation in plain words; the plan and timings come back', { skip }, async () => {
  const response = await client.ask('tasks', 'add a task: water plants', 'id title status', { mutation: true });
  assert.equal(response.errors, undefined);
  assert.equal(response.data.tasks[0].title, 'Water plants');
  assert.deepEqual(planOf(response, 'tasks').steps.map((s) => s.op), ['insert']);
  const timings = timingsOf(response, 'tasks');
  assert.equal(timings.source, 'model');
  assert.match(timings.model, /^scripted/);
  assert.ok(timings.latencyMs >= 0 && timings.tokens.prompt > 0 && timings.tokens.completion > 0);
});

test('ask a query with another argument as a variable; q with quotes and braces is data', { skip }, async () => {
  const response = await client.ask('tasks', 'tasks about "plants" } { __schema', 'title',
    { variables: { limit: 1 } });
  assert.equal(response.errors, undefined);
  assert.deepEqual(response.data.tasks, [{ title: 'Water plants' }]);
  assert.equal(planOf(response, 'tasks').steps[0].where.title.contains, 'plants');
});

test('a scalar field needs no selection', { skip }, async () => {
  const response = await client.ask('taskCount', 'how many tasks are still to do?');
  assert.equal(response.data.taskCount, 2);
});

test('a field without q is a plain listing, no model', { skip }, async () => {
  const response = await client.request('{ projects { name } }');
  assert.equal(timingsOf(response, 'projects').source, 'listing');
  assert.equal(timingsOf(response, 'projects').model, null);
});
