// Live subscriptions through the clients frontends use: graphql-sse and graphql-ws directly, Apollo
// Client over GraphQLWsLink, urql's subscriptionExchange over graphql-sse, and graphql-sse's single
// connection mode (PUT reservation, one event stream, POSTs answered 202). The gateway serves
// live.graphql (the demo contract plus a Subscription type) with GATEWAY_MAX_SUBSCRIPTIONS=3.
// The scripted model answers, in order, from answers/live.json: one subscription plan, then the
// inserts the mutations below ask for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient as createSSE } from 'graphql-sse';
import { createClient as createWS } from 'graphql-ws';
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client, subscriptionExchange, gql as ugql } from '@urql/core';
import { GATEWAY_URL, post } from './gateway.mjs';

const WS_URL = GATEWAY_URL.replace(/^http/, 'ws');
const titles = (result) => result.data.tasks.map((t) => t.title);

/** A sink that keeps what it is pushed: `first` resolves on the first value, `all` on `count` values. */
function collector(count) {
  const values = [];
  let resolveFirst, rejectFirst, resolveAll, rejectAll;
  const first = new Promise((res, rej) => { resolveFirst = res; rejectFirst = rej; });
  const all = new Promise((res, rej) => { resolveAll = res; rejectAll = rej; });
  return {
    values, first, all,
    next(value) {
      values.push(value);
      if (values.length === 1) resolveFirst(value);
      if (values.length === count) resolveAll(values);
    },
    error(e) { rejectFirst(e); rejectAll(e); },
    complete() { resolveFirst(values[0]); resolveAll(values); },
  };
}

async function addTask(title) {
  const body = await post(`mutation { tasks(q: "add a task: ${title}") { id } }`);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
}

test('graphql-sse: the planned result, then again after a write', async () => {
  const client = createSSE({ url: GATEWAY_URL, retryAttempts: 0 });
  const sink = collector(2);
  const dispose = client.subscribe({ query: 'subscription { tasks(q: "open tasks by title") { title } }' }, sink);
  assert.deepEqual(titles(await sink.first), ['Fix login', 'Push notifications']);
  await addTask('Live via graphql-sse');
  const values = await sink.all;
  assert.deepEqual(titles(values[1]), ['Fix login', 'Live via graphql-sse', 'Push notifications']);
  dispose();
  client.dispose();
});

test('graphql-ws: the listing, then again after a write', async () => {
  const client = createWS({ url: WS_URL, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const sink = collector(2);
  const dispose = client.subscribe({ query: 'subscription { tasks { title status } }' }, sink);
  await sink.first;
  await addTask('Live via graphql-ws');
  const values = await sink.all;
  assert.ok(titles(values[1]).includes('Live via graphql-ws'));
  assert.equal(titles(values[1]).length, titles(values[0]).length + 1);
  dispose();
  await client.dispose();
});

test('Apollo Client over GraphQLWsLink', async () => {
  const wsClient = createWS({ url: WS_URL, webSocketImpl: WebSocket, retryAttempts: 0 });
  const apollo = new ApolloClient({ link: new GraphQLWsLink(wsClient), cache: new InMemoryCache() });
  const sink = collector(2);
  const subscription = apollo.subscribe({ query: gql`subscription Live { tasks { id title } }` }).subscribe(sink);
  await sink.first;
  await addTask('Live via Apollo');
  const values = await sink.all;
  assert.ok(titles(values[1]).includes('Live via Apollo'));
  subscription.unsubscribe();
  await wsClient.dispose();
});

test('urql subscriptionExchange over graphql-sse', async () => {
  const sse = createSSE({ url: GATEWAY_URL, retryAttempts: 0 });
  const client = new Client({
    url: GATEWAY_URL,
    exchanges: [subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query || '' };
        return { subscribe: (sink) => ({ unsubscribe: sse.subscribe(input, sink) }) };
      },
    })],
  });
  const sink = collector(2);
  const { unsubscribe } = client.subscription(ugql`subscription { tasks { id title } }`, {}).subscribe((r) => {
    if (r.error) sink.error(r.error); else sink.next(r);
  });
  await sink.first;
  await addTask('Live via urql');
  const values = await sink.all;
  assert.ok(titles(values[1]).includes('Live via urql'));
  unsubscribe();
  sse.dispose();
});

test('graphql-sse in single connection mode: a subscription and a query share one stream', async () => {
  const client = createSSE({ url: GATEWAY_URL, singleConnection: true, retryAttempts: 0 });
  const live = collector(2);
  const dispose = client.subscribe({ query: 'subscription { tasks { id title } }' }, live);
  const before = titles(await live.first);
  const once = collector(1);
  client.subscribe({ query: '{ projects { name } }' }, once);
  const projects = await once.all;
  assert.equal(projects.length, 1);
  assert.ok(projects[0].data.projects.some((p) => p.name === 'Website'));
  await addTask('Live via one connection');
  const values = await live.all;
  assert.deepEqual(titles(values[1]).filter((t) => !before.includes(t)), ['Live via one connection']);
  dispose();
  client.dispose();
});

test('more open subscriptions than the limit: TOO_MANY_SUBSCRIPTIONS', async () => {
  const client = createWS({ url: WS_URL, webSocketImpl: WebSocket, retryAttempts: 0 });
  const open = [];
  for (let i = 0; i < 3; i++) {
    const sink = collector(1);
    open.push(client.subscribe({ query: 'subscription { tasks { id } }' }, sink));
    assert.equal((await sink.first).errors, undefined);
  }
  const over = collector(1);
  client.subscribe({ query: 'subscription { tasks { id } }' }, over);
  const result = await over.first;
  assert.equal(result.errors[0].extensions.code, 'TOO_MANY_SUBSCRIPTIONS');
  open.forEach((dispose) => dispose());
  await client.dispose();
});
