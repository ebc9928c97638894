// A small static file server for the built site (dist/), on loopback only, with the caching a
// real host should use: entry pages revalidated every time, `assets-<hash>/` cached for good
// (scripts/fingerprint.mjs gives every release its own asset folder).
//
//   node scripts/static-server.mjs [dir] [port] [base]     e.g. dist 8080 /play/
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
};

/** The Cache-Control header for a path under the site's root. */
export function cacheControl(path) {
  return /^\/assets-[0-9a-f]+\//.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/** Serve `root` at `base` (a path ending in `/`) on 127.0.0.1; resolves to {server, url},
 * `url` without the base. Port 0 picks a free one. */
export function serve(root, port = 0, base = '/') {
  const dir = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const requested = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (!requested.startsWith(base)) throw new Error('outside the base path');
      const path = `/${requested.slice(base.length)}`;
      let file = normalize(join(dir, path));
      if (!file.startsWith(dir)) throw new Error('outside root');
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': cacheControl(path),
      });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${server.address().port}` })));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] ?? 'dist';
  const port = Number(process.argv[3] ?? 8080);
  const base = process.argv[4] ?? '/';
  serve(root, port, base).then(({ url }) => console.log(`serving ${root} at ${url}${base}`));
}
