/**
 * A small client for the LLM GraphQL gateway.
 *
 * Every root field of the gateway takes `q`, a request in plain words. `ask` builds a plain
 * GraphQL request for one root field (q travels as a variable, never inside the query text),
 * and `planOf` / `timingsOf` read what the gateway reports per field in `extensions.fields`.
 * No dependency beyond the global `fetch`.
 */
const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
/** The GraphQL document `ask` sends, e.g. `query Ask($q: String!) { tasks(q: $q) { id title } }`. */
export function askDocument(field, selection = '', options = {}) {
    const names = Object.keys(options.variables ?? {});
    for (const name of [field, ...names]) {
        if (!NAME.test(name) || name === 'q')
            throw new TypeError(`not a usable GraphQL name: ${JSON.stringify(name)}`);
    }
    const declarations = ['$q: String!', ...names.map((n) => `$${n}: ${typeOf(n, options)}`)].join(', ');
    const args = ['q: $q', ...names.map((n) => `${n}: $${n}`)].join(', ');
    const body = selection.trim() ? ` { ${selection.trim()} }` : '';
    return `${options.mutation ? 'mutation' : 'query'} Ask(${declarations}) { ${field}(${args})${body} }`;
}
function typeOf(name, options) {
    const given = options.types?.[name];
    if (given)
        return given;
    const value = options.variables?.[name];
    if (typeof value === 'boolean')
        return 'Boolean';
    if (typeof value === 'number')
        return Number.isInteger(value) ? 'Int' : 'Float';
    if (typeof value === 'string')
        return 'String';
    throw new TypeError(`give the GraphQL type of variable ${name} in options.types`);
}
export function createClient(options) {
    const doFetch = options.fetch ?? globalThis.fetch;
    const headers = {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
        ...options.headers,
    };
    if (options.apiKey)
        headers.authorization = `Bearer ${options.apiKey}`;
    async function request(query, variables) {
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
        return (await response.json());
    }
    return {
        request,
        ask(field, q, selection = '', askOptions = {}) {
            return request(askDocument(field, selection, askOptions), { ...askOptions.variables, q });
        },
    };
}
/** The plan the gateway ran for `field` (its alias, when the request used one). */
export function planOf(response, field) {
    return response.extensions?.fields?.[field]?.plan;
}
/** Where the plan for `field` came from, which model made it, how long it took, its tokens. */
export function timingsOf(response, field) {
    const trace = response.extensions?.fields?.[field];
    if (!trace)
        return undefined;
    const { source, model, latencyMs, totalMs, tokens, attempts } = trace;
    return { source, model, latencyMs, totalMs, tokens, attempts };
}
