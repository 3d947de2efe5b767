/**
 * A tiny read-only static file server for the browser tests.
 *
 * - binds 127.0.0.1 on a random port (port 0) and serves files under `root` (the repository root by default);
 * - GET and HEAD only; no directory listings (a directory answers with its index.html, or 404);
 * - refuses any path that resolves outside `root`, including through `..`, encoded separators, NUL bytes and symlinks;
 * - answers with the MIME types browsers insist on: `application/wasm` for .wasm (or `WebAssembly.compileStreaming`
 *   rejects the response) and `text/javascript` for .js (or module scripts are refused);
 * - `?mime=octet-stream` on any file serves it as `application/octet-stream`, so that a page can exercise the
 *   loader's fallback from `compileStreaming` to `arrayBuffer()` + `compile` against a real server.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

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
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

async function handle(rootReal: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'method not allowed\n');
    return;
  }
  let url: URL;
  let pathname: string;
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

/** Starts the server; resolves once it listens. */
export async function startStaticServer(options: StaticServerOptions = {}): Promise<StaticServer> {
  const rootReal = await realpath(options.root ?? REPO_ROOT);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handle(rootReal, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close() {
      closed ??= new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
