/**
 * A small client for the LLM GraphQL gateway.
 *
 * Every root field of the gateway takes `q`, a request in plain words. `ask` builds a plain
 * GraphQL request for one root field (q travels as a variable, never inside the query text),
 * and `planOf` / `timingsOf` read what the gateway reports per field in `extensions.fields`.
 * No dependency beyond the global `fetch`.
 */

import type { Plan } from './plan.js';

export interface ClientOptions {
  /** The gateway's GraphQL endpoint, e.g. `http://127.0.0.1:8000/graphql`. */
  url: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Extra headers for every request (e.g. `x-timezone`). */
  headers?: Record<string, string>;
  /** A fetch implementation; the global `fetch` by default. */
  fetch?: typeof fetch;
}

export interface AskOptions {
  /** Ask the Mutation field of that name instead of the Query field. */
  mutation?: boolean;
  /** Other arguments of the root field (e.g. `{ limit: 5 }`), sent as GraphQL variables. */
  variables?: Record<string, unknown>;
  /** GraphQL types of those variables; by default Int, Float, Boolean or String from the value. */
  types?: Record<string, string>;
}

export interface GraphQLErrorEntry {
  message: string;
  path?: (string | number)[];
  locations?: { line: number; column: number }[];
  extensions?: { code?: string; [key: string]: unknown };
}

// The plan's types are generated from the gateway's JSON Schema of a plan (npm run gen-types).
export type * from './plan.js';

/** One step of a plan: find, insert, update, delete, aggregate, call (a connector) or filter. */
export type PlanStep = NonNullable<Plan['steps']>[number];

/** What the gateway reports for one root field in `extensions.fields`. */
export interface FieldTrace {
  field: string;
  /** `model` (planned now), `cache` (a cached plan) or `listing` (no q, no model call). */
  source?: 'model' | 'cache' | 'listing';
  model?: string | null;
  latencyMs?: number;
  totalMs?: number;
  tokens?: { prompt: number; completion: number };
  attempts?: number;
  plan?: Plan;
  error?: string;
  [key: string]: unknown;
}

export interface GatewayResponse<TData = Record<string, unknown>> {
  data?: TData | null;
  errors?: GraphQLErrorEntry[];
  extensions?: { fields?: Record<string, FieldTrace>; [key: string]: unknown };
}

export interface Timings {
  source?: FieldTrace['source'];
  model?: string | null;
  latencyMs?: number;
  totalMs?: number;
  tokens?: { prompt: number; completion: number };
  attempts?: number;
}

export interface GatewayClient {
  /** Send any GraphQL document with its variables. */
  request<TData = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GatewayResponse<TData>>;
  /** Ask one root field in plain words: `ask('tasks', 'open tasks due this week', 'id title')`. */
  ask<TData = Record<string, unknown>>(
    field: string,
    q: string,
    selection?: string,
    options?: AskOptions,
  ): Promise<GatewayResponse<TData>>;
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** The GraphQL document `ask` sends, e.g. `query Ask($q: String!) { tasks(q: $q) { id title } }`. */
export function askDocument(field: string, selection = '', options: AskOptions = {}): string {
  const names = Object.keys(options.variables ?? {});
  for (const name of [field, ...names]) {
    if (!NAME.test(name) || name === 'q') throw new TypeError(`not a usable GraphQL name: ${JSON.stringify(name)}`);
  }
  const declarations = ['$q: String!', ...names.map((n) => `$${n}: ${typeOf(n, options)}`)].join(', ');
  const args = ['q: $q', ...names.map((n) => `${n}: $${n}`)].join(', ');
  const body = selection.trim() ? ` { ${selection.trim()} }` : '';
  return `${options.mutation ? 'mutation' : 'query'} Ask(${declarations}) { ${field}(${args})${body} }`;
}

function typeOf(name: string, options: AskOptions): string {
  const given = options.types?.[name];
  if (given) return given;
  const value = options.variables?.[name];
  if (typeof value === 'boolean') return 'Boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'Int' : 'Float';
  if (typeof value === 'string') return 'String';
  throw new TypeError(`give the GraphQL type of variable ${name} in options.types`);
}

export function createClient(options: ClientOptions): GatewayClient {
  const doFetch = options.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json;q=0.9',
    ...options.headers,
  };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  async function request<TData>(query: string, variables?: Record<string, unknown>): Promise<GatewayResponse<TData>> {
    const response = await doFetch(options.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(variables ? { query, variables } : { query }),
    });
    const type = response.headers.get('content-type') ?? '';
    if (!type.includes('json')) {
      const text = await response.text();
      throw new Error(`the gateway answered HTTP ${response.status} (${type || 'no content type'}): ${text.slice(0, 200)}`);
    }
    return (await response.json()) as GatewayResponse<TData>;
  }

  return {
    request,
    ask<TData>(field: string, q: string, selection = '', askOptions: AskOptions = {}) {
      return request<TData>(askDocument(field, selection, askOptions), { ...askOptions.variables, q });
    },
  };
}

/** The plan the gateway ran for `field` (its alias, when the request used one). */
export function planOf(response: GatewayResponse<unknown>, field: string): Plan | undefined {
  return response.extensions?.fields?.[field]?.plan;
}

/** Where the plan for `field` came from, which model made it, how long it took, its tokens. */
export function timingsOf(response: GatewayResponse<unknown>, field: string): Timings | undefined {
  const trace = response.extensions?.fields?.[field];
  if (!trace) return undefined;
  const { source, model, latencyMs, totalMs, tokens, attempts } = trace;
  return { source, model, latencyMs, totalMs, tokens, attempts };
}
