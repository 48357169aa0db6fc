// Where the gateway under test listens. tests/test_js_clients.py starts `gateway serve` and sets
// GATEWAY_URL; to run a suite by hand, start a gateway yourself (see README.md in this folder).
export const GATEWAY_URL = process.env.GATEWAY_URL;

if (!GATEWAY_URL) {
  throw new Error('set GATEWAY_URL to a running gateway, e.g. http://127.0.0.1:8000/graphql');
}

/** POST one GraphQL request with plain fetch; returns the parsed JSON body. */
export async function post(query, variables) {
  const response = await fetch(GATEWAY_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}
