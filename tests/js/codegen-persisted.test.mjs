// Trusted documents end to end: graphql-codegen's client preset wrote the persisted-documents
// manifest (codegen-persisted.yml, before the gateway started) and typed documents carrying their
// hashes (compiled by tsc); the gateway serves that manifest with --trusted-documents-only.
// Clients name documents by documentId (the GraphQL-over-HTTP appendix) or by their hash through
// urql's and Apollo's persisted-query support. The scripted model answers from
// answers/codegen-persisted.json: one find.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { Client, fetchExchange, gql } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { GATEWAY_URL, recordingFetch } from './gateway.mjs';
import { ProjectNames, TasksAbout } from './generated/persisted/js/typed/persisted/documents.js';

const manifest = JSON.parse(await readFile(new URL('generated/persisted/gql/persisted-documents.json',
  import.meta.url), 'utf8'));
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

async function send(body, method = 'POST') {
  const url = new URL(GATEWAY_URL);
  const init = { method, headers: { accept: 'application/graphql-response+json' } };
  if (method === 'GET') {
    for (const [k, v] of Object.entries(body)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  } else {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

test('the manifest holds each operation under sha256 of its text, as the typed documents say', () => {
  assert.equal(Object.keys(manifest).length, 2);
  for (const [id, text] of Object.entries(manifest)) {
    assert.equal(id, `sha256:${sha256(text)}`);
  }
  assert.ok(manifest[ProjectNames.__meta__.hash].startsWith('query ProjectNames'));
  assert.ok(manifest[TasksAbout.__meta__.hash].startsWith('query TasksAbout'));
});

test('documentId over POST and GET, with and without the sha256: prefix', async () => {
  const id = ProjectNames.__meta__.hash;
  const byPost = await send({ documentId: id });
  assert.equal(byPost.status, 200);
  assert.deepEqual(byPost.body.data.projects.map((p) => p.name).sort(), ['Mobile app', 'Website']);
  const byGet = await send({ documentId: id }, 'GET');
  assert.deepEqual(byGet.body.data, byPost.body.data);
  const plain = await send({ documentId: id.replace('sha256:', '') });
  assert.deepEqual(plain.body.data, byPost.body.data);
});

test("urql's persisted exchange sends the hash codegen embedded, never the text", async () => {
  const recorder = recordingFetch();
  const client = new Client({
    url: GATEWAY_URL,
    fetch: recorder.fetch,
    requestPolicy: 'network-only',
    exchanges: [persistedExchange({
      enforcePersistedQueries: true,
      preferGetForPersistedQueries: true,
      generateHash: (_, document) => Promise.resolve(document.__meta__.hash),
    }), fetchExchange],
  });
  const result = await client.query(TasksAbout, { q: 'high priority tasks' }).toPromise();
  assert.equal(result.error, undefined);
  assert.deepEqual(result.data.tasks.map((t) => t.title).sort(), ['Fix login', 'Push notifications']);
  assert.deepEqual(recorder.sent.map(({ method, hasQuery }) => ({ method, hasQuery })),
    [{ method: 'GET', hasQuery: false }]);
});

test("Apollo's persisted query link with codegen's hashes", async () => {
  const recorder = recordingFetch();
  const link = new PersistedQueryLink({ generateHash: (document) => document.__meta__.hash, useGETForHashedQueries: true })
    .concat(new HttpLink({ uri: GATEWAY_URL, fetch: recorder.fetch }));
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const { data } = await client.query({ query: ProjectNames });
  assert.deepEqual(data.projects.map((p) => p.name).sort(), ['Mobile app', 'Website']);
  assert.equal(recorder.sent.length, 1);
  assert.equal(recorder.sent[0].hasQuery, false);
});

test('anything not in the manifest is refused with DOCUMENT_NOT_TRUSTED, and nothing runs', async () => {
  const text = 'query Other { tags { name } }';
  const refusals = [
    await send({ query: text }),
    await send({ query: text, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(text) } } }),
    await send({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(text) } } }),
    await send({ documentId: `sha256:${sha256(text)}` }),
    await send({ query: 'mutation { tags(q: "delete every tag") { name } }' }),
  ];
  for (const { status, body } of refusals) {
    assert.equal(status, 403);
    assert.equal(body.errors[0].extensions.code, 'DOCUMENT_NOT_TRUSTED');
    assert.equal(body.data, undefined);
  }
  const client = new Client({ url: GATEWAY_URL, exchanges: [fetchExchange], requestPolicy: 'network-only' });
  const viaUrql = await client.query(gql`query Other { tags { name } }`, {}).toPromise();
  assert.equal(viaUrql.error.graphQLErrors[0].extensions.code, 'DOCUMENT_NOT_TRUSTED');
});
