import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface Served {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the files of `dir` on host:port (port 0: a free one); nothing outside `dir`. */
export function serveDirectory(dir: string, { host = '127.0.0.1', port = 0 }: { host?: string; port?: number } = {}): Promise<Served> {
  const root = normalize(dir + sep);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    const isFile =
      file.startsWith(root) &&
      (() => {
        try {
          return statSync(file).isFile();
        } catch {
          return false;
        }
      })();
    if (req.method !== 'GET' || !isFile) {
      res.writeHead(req.method !== 'GET' ? 405 : 404, { 'content-type': 'text/plain' }).end(`${req.method} ${path}: not found\n`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`demo server: cannot listen on ${host}:${port} (${err.message})`)));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      resolve({ url: `http://${host}:${bound}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}
