// The static file server of the browser tests is examples/serve.js (also `npm run demo:web`); typed here for the tests.
export { REPO_ROOT, startStaticServer } from '../../examples/serve.js';

export interface StaticServer {
  /** Origin without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Paths requested so far (pathname + search), in order. */
  requests: string[];
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** Directory to serve; defaults to the repository root. */
  root?: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
}
