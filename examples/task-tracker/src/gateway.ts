// The urql client and the gateway's extras: what `extensions.fields.<field>` carries (the plan
// that ran, the model, latency, tokens) and how errors name their `extensions.code`.
import { Client, fetchExchange, type CombinedError, type OperationResult } from '@urql/core';

/** Same origin: Vite's proxy forwards /graphql to the gateway (vite.config.ts). */
export const client = new Client({
  url: '/graphql',
  // No document cache: the same words can plan a different answer once the data has changed.
  exchanges: [fetchExchange],
});

export interface PlanStep {
  op: 'find' | 'insert' | 'update' | 'delete' | 'aggregate';
  model: string;
  [key: string]: unknown;
}

/** The gateway's report on one root field of a response. */
export interface FieldTrace {
  field: string;
  source: string; // "model" when planned, "listing" for a field called without q
  model?: string;
  latencyMs?: number;
  tokens?: { prompt: number; completion: number };
  attempts?: number;
  plan?: { steps: PlanStep[]; result?: number; params?: Record<string, unknown> };
  error?: string;
}

export function traceOf(result: OperationResult, field: string): FieldTrace | undefined {
  const fields = result.extensions?.fields as Record<string, FieldTrace> | undefined;
  return fields?.[field];
}

/** "PLAN_INVALID: ..." for GraphQL errors, "network: ..." when the gateway was not reached. */
export function describeError(error: CombinedError): string {
  if (error.networkError) return `network: ${error.networkError.message}`;
  return error.graphQLErrors
    .map((e) => `${(e.extensions?.code as string | undefined) ?? 'ERROR'}: ${e.message}`)
    .join('\n');
}
