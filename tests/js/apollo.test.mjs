// Apollo Client (core, no React) against the live gateway.
// The scripted model answers, in order, from answers/apollo.json: an insert, a find, three bad plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { map } from 'rxjs';
import { GATEWAY_URL } from './gateway.mjs';

// Apollo hands a mutation's response extensions back, a query's not: a link keeps the last ones.
let lastExtensions;
const keepExtensions = new ApolloLink((operation, forward) =>
  forward(operation).pipe(map((result) => {
    lastExtensions = result.extensions;
    return result;
  })));

const client = new ApolloClient({
  link: ApolloLink.from([keepExtensions, new HttpLink({ uri: GATEWAY_URL })]),
  cache: new InMemoryCache(),
});

test('a field without q lists records, no model call', async () => {
  const { data } = await client.query({ query: gql`query Projects { projects { id name } }` });
  assert.deepEqual(data.projects.map((p) => p.name).sort(), ['Mobile app', 'Website']);
  assert.equal(lastExtensions.fields.projects.source, 'listing');
});

test('a mutation with q in a variable; extensions carry the plan', async () => {
  const result = await client.mutate({
    mutation: gql`mutation AddTask($q: String!) { tasks(q: $q) { id title status priority project { name } } }`,
    variables: { q: "add 'Ship v1' to the Website project, high priority" },
  });
  const [task] = result.data.tasks;
  assert.equal(task.title, 'Ship v1');
  assert.equal(task.priority, 'HIGH');
  assert.deepEqual(task.project, { __typename: 'Project', name: 'Website' });
  const trace = result.extensions.fields.tasks;
  assert.equal(trace.source, 'model');
  assert.deepEqual(trace.plan.steps.map((s) => s.op), ['find', 'insert']);
  assert.ok(trace.tokens.prompt > 0 && typeof trace.latencyMs === 'number');
});

test('a query with q sees what the mutation wrote', async () => {
  const { data } = await client.query({
    query: gql`query HighTasks($q: String) { tasks(q: $q) { id title } }`,
    variables: { q: 'high priority tasks' },
  });
  assert.deepEqual(data.tasks.map((t) => t.title), ['Fix login', 'Push notifications', 'Ship v1']);
  assert.equal(lastExtensions.fields.tasks.plan.steps[0].where.priority.eq, 'HIGH');
});

test('a plan naming an unknown field is PLAN_INVALID after the repairs', async () => {
  await assert.rejects(
    client.mutate({
      mutation: gql`mutation AddRed($q: String!) { tasks(q: $q) { id title } }`,
      variables: { q: 'add a red task' },
    }),
    (error) => {
      assert.ok(CombinedGraphQLErrors.is(error), `expected GraphQL errors, got ${error}`);
      assert.equal(error.errors[0].extensions.code, 'PLAN_INVALID');
      assert.match(error.errors[0].message, /colour/);
      assert.equal(error.errors[0].extensions.attempts.length, 3);
      return true;
    },
  );
});

test('errorPolicy all returns the errors next to the data', async () => {
  const result = await client.query({
    query: gql`query Bad { tasks(limit: "many") { id } }`,
    errorPolicy: 'all',
  });
  assert.ok(CombinedGraphQLErrors.is(result.error));
  assert.match(result.error.errors[0].message, /Int/);
});
