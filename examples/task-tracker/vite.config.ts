// Vite serves the page; requests to /graphql go through its proxy to the gateway, so the page and
// the API share one origin (no CORS). GATEWAY_URL: the gateway, with or without the /graphql path.
import { defineConfig } from 'vite';

const gateway = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:8000').replace(/\/graphql\/?$/, '');
const proxy = { '/graphql': { target: gateway, changeOrigin: true } };

export default defineConfig({
  server: { proxy },
  preview: { proxy },
});
