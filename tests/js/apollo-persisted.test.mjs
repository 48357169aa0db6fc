// Apollo Client with its persisted query link (automatic persisted queries, sha256 from node's
// crypto, hashed queries over GET) against the live gateway. The scripted model answers from
// answers/apollo-persisted.json: one insert.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GATEWAY_URL, recordingFetch } from './gateway.mjs';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function apolloClient(hash = sha256) {
  const recorder = recordingFetch();
  const link = new PersistedQueryLink({ sha256: hash, useGETForHashedQueries: true })
    .concat(new HttpLink({ uri: GATEWAY_URL, fetch: recorder.fetch }));
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), sent: recorder.sent };
}

const PROJECTS = gql`query PersistedProjects { projects { id name } }`;

test('a miss, the document once, then the hash alone over GET', async () => {
  const { client, sent } = apolloClient();
  const first = await client.query({ query: PROJECTS, fetchPolicy: 'network-only' });
  assert.deepEqual(first.data.projects.map((p) => p.name).sort(), ['Mobile app', 'Website']);
  // the gateway did not know the hash: PERSISTED_QUERY_NOT_FOUND, then the link sent the document
  assert.deepEqual(sent.map(({ method, hasQuery, status }) => ({ method, hasQuery, status })), [
    { method: 'GET', hasQuery: false, status: 200 },
    { method: 'POST', hasQuery: true, status: 200 },
  ]);
  assert.match(sent[0].hash, /^[0-9a-f]{64}$/);

  const again = await client.query({ query: PROJECTS, fetchPolicy: 'network-only' });
  assert.deepEqual(again.data, first.data);
  assert.deepEqual(sent.slice(2).map(({ method, hasQuery }) => ({ method, hasQuery })),
    [{ method: 'GET', hasQuery: false }]);

  // another client (another browser) sends the hash alone and is answered at once
  const other = apolloClient();
  const fresh = await other.client.query({ query: PROJECTS });
  assert.deepEqual(fresh.data, first.data);
  assert.equal(other.sent.length, 1);
  assert.equal(other.sent[0].hasQuery, false);
});

test('a mutation with q goes by hash over POST', async () => {
  const { client, sent } = apolloClient();
  const result = await client.mutate({
    mutation: gql`mutation PersistedAddTag($q: String!) { tags(q: $q) { name } }`,
    variables: { q: 'add a tag called garden' },
  });
  assert.deepEqual(result.data.tags, [{ __typename: 'Tag', name: 'garden' }]);
  assert.ok(sent.every((r) => r.method === 'POST'));
  assert.equal(sent[0].hasQuery, false);
});

test('a hash that does not match its document is refused with a code', async () => {
  const { client } = apolloClient(() => 'f'.repeat(64));
  await assert.rejects(
    client.query({ query: gql`query WrongHash { tags { name } }`, fetchPolicy: 'network-only' }),
    (error) => {
      assert.ok(CombinedGraphQLErrors.is(error), `expected GraphQL errors, got ${error}`);
      assert.equal(error.errors[0].extensions.code, 'PERSISTED_QUERY_HASH_MISMATCH');
      return true;
    },
  );
});
