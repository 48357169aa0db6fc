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
    locations?: {
        line: number;
        column: number;
    }[];
    extensions?: {
        code?: string;
        [key: string]: unknown;
    };
}
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
    tokens?: {
        prompt: number;
        completion: number;
    };
    attempts?: number;
    plan?: Plan;
    error?: string;
    [key: string]: unknown;
}
export interface GatewayResponse<TData = Record<string, unknown>> {
    data?: TData | null;
    errors?: GraphQLErrorEntry[];
    extensions?: {
        fields?: Record<string, FieldTrace>;
        [key: string]: unknown;
    };
}
export interface Timings {
    source?: FieldTrace['source'];
    model?: string | null;
    latencyMs?: number;
    totalMs?: number;
    tokens?: {
        prompt: number;
        completion: number;
    };
    attempts?: number;
}
export interface GatewayClient {
    /** Send any GraphQL document with its variables. */
    request<TData = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<GatewayResponse<TData>>;
    /** Ask one root field in plain words: `ask('tasks', 'open tasks due this week', 'id title')`. */
    ask<TData = Record<string, unknown>>(field: string, q: string, selection?: string, options?: AskOptions): Promise<GatewayResponse<TData>>;
}
/** The GraphQL document `ask` sends, e.g. `query Ask($q: String!) { tasks(q: $q) { id title } }`. */
export declare function askDocument(field: string, selection?: string, options?: AskOptions): string;
export declare function createClient(options: ClientOptions): GatewayClient;
/** The plan the gateway ran for `field` (its alias, when the request used one). */
export declare function planOf(response: GatewayResponse<unknown>, field: string): Plan | undefined;
/** Where the plan for `field` came from, which model made it, how long it took, its tokens. */
export declare function timingsOf(response: GatewayResponse<unknown>, field: string): Timings | undefined;
