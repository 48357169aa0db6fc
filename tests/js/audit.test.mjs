// The GraphQL-over-HTTP conformance audits of graphql-http, run against the live gateway.
// Every MUST audit has to pass; SHOULD and MAY audits are counted and reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { getIntrospectionQuery } from 'graphql';
import { GATEWAY_URL, post } from './gateway.mjs';

test('graphql-http server audits', async (t) => {
  const counts = {};
  const mustFailures = [];
  for (const audit of serverAudits({ url: GATEWAY_URL })) {
    const level = audit.name.split(' ')[0]; // MUST, SHOULD or MAY
    const result = await audit.fn();
    const tally = (counts[level] ??= { passed: 0, total: 0 });
    tally.total += 1;
    if (result.status === 'ok') tally.passed += 1;
    else {
      t.diagnostic(`${result.status}: ${audit.name}: ${result.reason}`);
      if (level === 'MUST') mustFailures.push(`${audit.name}: ${result.reason}`);
    }
  }
  for (const [level, { passed, total }] of Object.entries(counts)) {
    t.diagnostic(`${level}: ${passed}/${total} passed`);
  }
  assert.deepEqual(mustFailures, [], 'every MUST audit passes');
  assert.ok(counts.MUST.total > 0, 'the audits ran');
});

test('the standard introspection query is answered despite the depth limit', async () => {
  const body = await post(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }));
  assert.equal(body.errors, undefined);
  assert.ok(body.data.__schema.types.some((type) => type.name === 'Task'));
});

test('a cyclic introspection query is refused', async () => {
  const body = await post('{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }');
  assert.equal(body.data, undefined);
  assert.match(body.errors[0].message, /introspection/i);
});
