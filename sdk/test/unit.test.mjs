// The SDK against a local node:http server: what goes over the wire, and the helpers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { askDocument, createClient, planOf, timingsOf } from '../dist/index.js';

const trace = {
  field: 'query.tasks', source: 'model', model: 'scripted', latencyMs: 12.5, totalMs: 20.1,
  tokens: { prompt: 300, completion: 40 }, attempts: 1,
  plan: { steps: [{ op: 'find', model: 'Task' }], result: 0 },
};
let seen; // the last request the server received
let reply = { status: 200, type: 'application/graphql-response+json', body: JSON.stringify({ data: { tasks: [] } }) };
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    seen = { method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body) };
    res.writeHead(reply.status, { 'content-type': reply.type });
    res.end(reply.body);
  });
});
let url;
before(async () => {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${server.address().port}/graphql`;
});
after(() => server.close());

test('ask posts a plain GraphQL request with q as a variable and the API key as a bearer token', async () => {
  const q = 'tasks named "x" } { __schema { types { name } }';
  await createClient({ url, apiKey: 'k-123' }).ask('tasks', q, 'id title');
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/graphql');
  assert.equal(seen.headers.authorization, 'Bearer k-123');
  assert.equal(seen.headers['content-type'], 'application/json');
  assert.match(seen.headers.accept, /application\/graphql-response\+json/);
  assert.deepEqual(seen.body, {
    query: 'query Ask($q: String!) { tasks(q: $q) { id title } }',
    variables: { q },
  });
});

test('no API key, no Authorization header', async () => {
  await createClient({ url }).ask('taskCount', 'how many tasks');
  assert.equal(seen.headers.authorization, undefined);
  assert.equal(seen.body.query, 'query Ask($q: String!) { taskCount(q: $q) }');
});

test('mutation and other arguments as typed variables', async () => {
  const client = createClient({ url, headers: { 'x-timezone': 'Europe/Paris' } });
  await client.ask('tasks', 'add a task', 'id', { mutation: true });
  assert.equal(seen.body.query, 'mutation Ask($q: String!) { tasks(q: $q) { id } }');
  assert.equal(seen.headers['x-timezone'], 'Europe/Paris');
  await client.ask('tasks', 'open tasks', 'title', { variables: { limit: 5, ratio: 0.5, open: true, status: 'TODO' },
    types: { status: 'Status' } });
  assert.equal(seen.body.query, 'query Ask($q: String!, $limit: Int, $ratio: Float, $open: Boolean, $status: Status) '
    + '{ tasks(q: $q, limit: $limit, ratio: $ratio, open: $open, status: $status) { title } }');
  assert.deepEqual(seen.body.variables, { limit: 5, ratio: 0.5, open: true, status: 'TODO', q: 'open tasks' });
});

test('names that are not GraphQL names are refused before sending', () => {
  assert.throws(() => askDocument('tasks { id } x: tasks', 'id'), TypeError);
  assert.throws(() => askDocument('tasks', 'id', { variables: { 'a b': 1 } }), TypeError);
  assert.throws(() => askDocument('tasks', 'id', { variables: { q: 'again' } }), TypeError);
  assert.throws(() => askDocument('tasks', 'id', { variables: { when: null } }), /options.types/);
});

test('GraphQL errors come back as the response, with their HTTP status ignored', async () => {
  reply = { status: 400, type: 'application/graphql-response+json',
    body: JSON.stringify({ errors: [{ message: 'bad', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] }) };
  const response = await createClient({ url }).request('{ nope }');
  assert.equal(response.errors[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
});

test('a response that is not JSON is an Error with the status', async () => {
  reply = { status: 502, type: 'text/html', body: '<h1>Bad gateway</h1>' };
  await assert.rejects(createClient({ url }).ask('tasks', 'x', 'id'), /HTTP 502 \(text\/html\)/);
});

test('planOf and timingsOf read extensions.fields', () => {
  const response = { data: { tasks: [] }, extensions: { fields: { tasks: trace } } };
  assert.deepEqual(planOf(response, 'tasks'), trace.plan);
  assert.deepEqual(timingsOf(response, 'tasks'), {
    source: 'model', model: 'scripted', latencyMs: 12.5, totalMs: 20.1, tokens: { prompt: 300, completion: 40 }, attempts: 1,
  });
  assert.equal(planOf(response, 'people'), undefined);
  assert.equal(timingsOf({ data: null }, 'tasks'), undefined);
});
