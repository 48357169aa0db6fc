// urql (@urql/core) against the live gateway.
// The scripted model answers, in order, from answers/urql.json: a count, an update, three bad plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, cacheExchange, fetchExchange, gql } from '@urql/core';
import { GATEWAY_URL } from './gateway.mjs';

const client = new Client({
  url: GATEWAY_URL,
  exchanges: [cacheExchange, fetchExchange],
  requestPolicy: 'network-only',
});

test('a field without q lists records, no model call', async () => {
  const result = await client.query(gql`{ people { name email } }`, {}).toPromise();
  assert.equal(result.error, undefined);
  assert.deepEqual(result.data.people.map((p) => p.name).sort(), ['Ada', 'Linus']);
  assert.equal(result.extensions.fields.people.source, 'listing');
});

test('a query with q in a variable; extensions carry the plan', async () => {
  const result = await client
    .query(gql`query Count($q: String) { taskCount(q: $q) }`, { q: 'how many high priority tasks?' })
    .toPromise();
  assert.equal(result.error, undefined);
  assert.equal(result.data.taskCount, 2);
  const trace = result.extensions.fields.taskCount;
  assert.equal(trace.source, 'model');
  assert.equal(trace.plan.steps[0].op, 'aggregate');
  assert.equal(trace.attempts, 1);
});

test('a mutation updates records and returns them', async () => {
  const result = await client
    .mutation(gql`mutation Done($q: String!) { tasks(q: $q) { id title status } }`, { q: 'mark Fix login done' })
    .toPromise();
  assert.equal(result.error, undefined);
  assert.deepEqual(result.data.tasks.map(({ title, status }) => ({ title, status })),
    [{ title: 'Fix login', status: 'DONE' }]);
  assert.equal(result.extensions.fields.tasks.plan.steps[0].op, 'update');
});

test('a plan naming an unknown field is PLAN_INVALID after the repairs', async () => {
  const result = await client.query(gql`query Red($q: String) { tags(q: $q) { name } }`, { q: 'red tags' }).toPromise();
  assert.ok(result.error, 'an error comes back');
  const [error] = result.error.graphQLErrors;
  assert.equal(error.extensions.code, 'PLAN_INVALID');
  assert.deepEqual(error.path, ['tags']);
  assert.equal(result.extensions.fields.tags.error, 'PLAN_INVALID');
});

test('a document the schema refuses is a GraphQL error, not a network error', async () => {
  const result = await client.query(gql`{ tasks { nope } }`, {}).toPromise();
  assert.equal(result.error.networkError, undefined);
  assert.match(result.error.graphQLErrors[0].message, /nope/);
});
