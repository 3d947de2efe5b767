/**
 * A tiny read-only static file server: the browser tests use it, and `npm run demo:web` runs it for the
 * recommendation demo (examples/recsys/).
 *
 * - binds 127.0.0.1 on a random port (port 0) and serves files under `root` (the repository root by default);
 * - GET and HEAD only; no directory listings (a directory answers with its index.html, or 404);
 * - refuses any path that resolves outside `root`, including through `..`, encoded separators, NUL bytes and symlinks;
 * - answers with the MIME types browsers insist on: `application/wasm` for .wasm (or `WebAssembly.compileStreaming`
 *   rejects the response) and `text/javascript` for .js (or module scripts are refused);
 * - `?mime=octet-stream` on any file serves it as `application/octet-stream`, so that a page can exercise the
 *   loader's fallback from `compileStreaming` to `arrayBuffer()` + `compile` against a real server;
 * - every file it serves makes its document cross-origin isolated (COOP + COEP: SharedArrayBuffer, the threads build);
 *   `?isolated=0` on a page leaves the two headers out, for a page as most sites serve it (no SharedArrayBuffer).
 */
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** @type {Record<string, string>} */
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/**
 * @typedef {object} StaticServer
 * @property {string} url Origin without a trailing slash, e.g. `http://127.0.0.1:41234`.
 * @property {string[]} requests Paths requested so far (pathname + search), in order.
 * @property {() => Promise<void>} close
 */

/**
 * @typedef {object} StaticServerOptions
 * @property {string} [root] Directory to serve; defaults to the repository root.
 * @property {number} [port] Port on 127.0.0.1; 0 (default) picks a free one.
 */

/** @param {string} root @param {string} p */
function isInside(root, p) {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** @param {import('node:http').ServerResponse} res @param {number} status @param {string} body */
function send(res, status, body) {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** @param {string} rootReal @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
async function handle(rootReal, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'method not allowed\n');
    return;
  }
  let url;
  let pathname;
  try {
    url = new URL(req.url ?? '/', 'http://127.0.0.1');
    pathname = decodeURIComponent(url.pathname);
  } catch {
    send(res, 400, 'bad request\n');
    return;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) {
    send(res, 400, 'bad request\n');
    return;
  }
  // resolve against the root, then check the result (and, below, its real path) is still inside it
  let file = resolve(rootReal, '.' + (pathname.startsWith('/') ? pathname : '/' + pathname));
  if (!isInside(rootReal, file)) {
    send(res, 403, 'forbidden\n');
    return;
  }
  try {
    let st = await stat(file);
    if (st.isDirectory()) {
      file = join(file, 'index.html');
      st = await stat(file);
    }
    const real = await realpath(file);
    if (!isInside(rootReal, real)) {
      send(res, 403, 'forbidden\n');
      return;
    }
    if (!st.isFile()) {
      send(res, 404, 'not found\n');
      return;
    }
    const type =
      url.searchParams.get('mime') === 'octet-stream'
        ? 'application/octet-stream'
        : (MIME[extname(real).toLowerCase()] ?? 'application/octet-stream');
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': st.size,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      // cross-origin isolation: what lets a page (and its workers) have SharedArrayBuffer, i.e. init({ threads: true })
      // and a shared-memory WorkerPool; everything here is same-origin, so nothing else is affected
      ...(url.searchParams.get('isolated') === '0' ? {} : {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      }),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(real);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  } catch {
    send(res, 404, 'not found\n');
  }
}

/**
 * Starts the server; resolves once it listens.
 * @param {StaticServerOptions} [options]
 * @returns {Promise<StaticServer>}
 */
export async function startStaticServer(options = {}) {
  const rootReal = await realpath(options.root ?? REPO_ROOT);
  /** @type {string[]} */
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handle(rootReal, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  /** @type {Promise<void> | undefined} */
  let closed;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close() {
      closed ??= new Promise((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

// `node examples/serve.js [--port N]`: serves the repository (dist/ and examples/) for the demo until interrupted
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const at = process.argv.indexOf('--port');
  const port = at > 0 ? Number(process.argv[at + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: --port must be an integer 0..65535 (got ${process.argv[at + 1]})`);
    process.exit(2);
  }
  const server = await startStaticServer({ port });
  console.log(`vqwasm recommendation demo: ${server.url}/examples/recsys/  (serving ${REPO_ROOT} on 127.0.0.1; Ctrl-C stops)`);
}
