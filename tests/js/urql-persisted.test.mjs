// urql with its persisted exchange (automatic persisted queries, hashed queries over GET) against
// the live gateway. The scripted model answers from answers/urql-persisted.json: one count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fetchExchange, gql } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { GATEWAY_URL, recordingFetch } from './gateway.mjs';

function urqlClient(options = {}) {
  const recorder = recordingFetch();
  const client = new Client({
    url: GATEWAY_URL,
    exchanges: [persistedExchange({ preferGetForPersistedQueries: true, ...options }), fetchExchange],
    requestPolicy: 'network-only',
    fetch: recorder.fetch,
  });
  return { client, sent: recorder.sent };
}

test('a miss, the document once, then the hash alone over GET', async () => {
  const { client, sent } = urqlClient();
  const PEOPLE = gql`query PersistedPeople { people { name } }`;
  const first = await client.query(PEOPLE, {}).toPromise();
  assert.equal(first.error, undefined);
  assert.deepEqual(first.data.people.map((p) => p.name).sort(), ['Ada', 'Linus']);
  assert.deepEqual(sent.map(({ method, hasQuery }) => ({ method, hasQuery })), [
    { method: 'GET', hasQuery: false },
    { method: 'GET', hasQuery: true },
  ]);
  assert.match(sent[0].hash, /^[0-9a-f]{64}$/);

  const again = await client.query(PEOPLE, {}).toPromise();
  assert.deepEqual(again.data, first.data);
  assert.deepEqual(sent.slice(2).map(({ method, hasQuery }) => ({ method, hasQuery })),
    [{ method: 'GET', hasQuery: false }]);
});

test('a query with q goes by hash over GET', async () => {
  const { client, sent } = urqlClient();
  const COUNT = gql`query PersistedCount($q: String) { taskCount(q: $q) }`;
  const result = await client.query(COUNT, { q: 'how many high priority tasks?' }).toPromise();
  assert.equal(result.error, undefined);
  assert.equal(result.data.taskCount, 2);
  assert.equal(result.extensions.fields.taskCount.source, 'model');
  const listing = await client.query(gql`query PersistedTags { tags { name } }`, {}).toPromise();
  assert.equal(listing.error, undefined);
  assert.ok(sent.every((r) => r.method === 'GET'));
});

test('a hash that does not match its document is refused with a code', async () => {
  const { client } = urqlClient({ generateHash: async () => '0'.repeat(64) });
  const result = await client.query(gql`query WrongHash { tags { name } }`, {}).toPromise();
  assert.equal(result.data, undefined);
  assert.equal(result.error.graphQLErrors[0].extensions.code, 'PERSISTED_QUERY_HASH_MISMATCH');
});
