// graphql-codegen (typescript + typescript-operations) from the running gateway's introspection
// and from schema.graphql, then `tsc --noEmit` on a small typed client (typed/client.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { GATEWAY_URL } from './gateway.mjs';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const bin = (name) => new URL(`node_modules/.bin/${name}`, import.meta.url).pathname;

test('codegen from introspection and from the SDL, then tsc', async () => {
  await rm(new URL('generated', import.meta.url), { recursive: true, force: true });
  await run(bin('graphql-codegen'), ['--config', 'codegen.yml', '--silent'],
    { cwd: here, env: { ...process.env, GATEWAY_URL } });

  const fromIntrospection = await readFile(new URL('generated/from-introspection.ts', import.meta.url), 'utf8');
  const fromSdl = await readFile(new URL('generated/from-sdl.ts', import.meta.url), 'utf8');
  assert.match(fromIntrospection, /export type HighTasksQuery = .*status: Status, priority\?: Priority \| null/);
  assert.match(fromIntrospection, /export type AddTaskMutationVariables = Exact<\{\s+q: Scalars\['String'\]\['input'\];/);
  assert.equal(fromIntrospection, fromSdl, 'introspection and the SDL file give the same types');

  const { stdout } = await run(bin('tsc'), ['-p', 'typed/tsconfig.json'], { cwd: here })
    .catch((error) => assert.fail(`tsc failed:\n${error.stdout}${error.stderr}`));
  assert.equal(stdout, '');
  await rm(new URL('generated', import.meta.url), { recursive: true }); // regenerated on every run
});
