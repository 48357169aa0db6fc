// @defer over multipart/mixed through Apollo Client (GraphQL17Alpha9Handler) and urql's fetchExchange.
// A page asks for a listing field (no model call) and, deferred, a field the model plans; the
// listing comes in the first part, the model's field in a later one. The scripted model answers,
// in order, from answers/defer.json: two counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQL17Alpha9Handler } from '@apollo/client/incremental';
import { Client, fetchExchange, gql as ugql } from '@urql/core';
import { GATEWAY_URL } from './gateway.mjs';

const PAGE = `query Page {
  projects { id name }
  ... @defer(label: "count") { taskCount(q: "how many tasks are there?") }
}`;
const PROJECTS = ['Website', 'Mobile app'];

test('Apollo Client: the listing first, the deferred model field merged when it arrives', async () => {
  const client = new ApolloClient({
    link: new HttpLink({ uri: GATEWAY_URL }),
    cache: new InMemoryCache(),
    incrementalHandler: new GraphQL17Alpha9Handler(),
  });
  const seen = [];
  await new Promise((resolve, reject) => {
    const sub = client.watchQuery({ query: gql(PAGE), fetchPolicy: 'network-only' }).subscribe({
      next(result) {
        if (result.loading && !result.data) return;
        seen.push(result);
        if (result.dataState === 'complete') { sub.unsubscribe(); resolve(); }
      },
      error: reject,
    });
  });
  const first = seen[0];
  assert.equal(first.dataState, 'streaming');
  assert.deepEqual(first.data.projects.map((p) => p.name), PROJECTS);
  assert.equal(first.data.taskCount, undefined);
  const last = seen.at(-1);
  assert.equal(last.data.taskCount, 3);
  assert.deepEqual(last.data.projects.map((p) => p.name), PROJECTS);
});

test('urql: a first result with hasNext, then the deferred field', async () => {
  const client = new Client({ url: GATEWAY_URL, exchanges: [fetchExchange], requestPolicy: 'network-only' });
  const seen = [];
  await new Promise((resolve) => {
    const { unsubscribe } = client.query(ugql(PAGE), {}).subscribe((result) => {
      seen.push(result);
      if (!result.hasNext) { setTimeout(unsubscribe); resolve(); }
    });
  });
  assert.ok(seen.length >= 2, `parts seen: ${seen.length}`);
  assert.equal(seen[0].hasNext, true);
  assert.deepEqual(seen[0].data.projects.map((p) => p.name), PROJECTS);
  assert.equal(seen[0].data.taskCount, undefined);
  const last = seen.at(-1);
  assert.equal(last.error, undefined);
  assert.equal(last.data.taskCount, 3);
});
