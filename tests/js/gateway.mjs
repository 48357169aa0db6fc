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

/**
 * A fetch that records what each request carried (method, whether the document text was sent,
 * the persisted-query hash or documentId) and the response status, then answers as fetch does.
 */
export function recordingFetch() {
  const sent = [];
  const fetchAndRecord = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    const method = (init.method ?? 'GET').toUpperCase();
    let params;
    if (method === 'GET') {
      params = Object.fromEntries(url.searchParams);
      if (params.extensions) params.extensions = JSON.parse(params.extensions);
    } else {
      params = JSON.parse(init.body);
    }
    const response = await fetch(input, init);
    sent.push({
      method,
      hasQuery: typeof params.query === 'string',
      hash: params.extensions?.persistedQuery?.sha256Hash,
      documentId: params.documentId,
      status: response.status,
    });
    return response;
  };
  return { fetch: fetchAndRecord, sent };
}
