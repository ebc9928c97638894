// Cache-safe releases: move every asset of a built site into one folder named after a hash of
// their contents, `assets-<hash>/`, and point the entry pages at it.
//
//   node scripts/fingerprint.mjs dist
//
// Everything an asset loads is relative to itself (the worker, the wasm-bindgen module, the
// wasm, the vendored uPlot), so the folder moves as a whole: a returning visitor gets either the
// old page with the old assets or the new page with the new ones, never a mix, and the assets
// may be cached forever. Only the entry pages (index.html, embed-demo.html) keep stable names;
// serve those uncached.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Pages that keep their names: what people link to. */
export const ENTRY_PAGES = ['index.html', 'embed-demo.html'];

async function files(dir, root = dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path, root)));
    else out.push(relative(root, path));
  }
  return out.sort();
}

/** The asset folder's name for `dir`: a hash of every asset's path and bytes. */
export async function assetFolder(dir) {
  const hash = createHash('sha256');
  for (const file of (await files(dir)).filter((f) => !ENTRY_PAGES.includes(f))) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(dir, file)));
  }
  return `assets-${hash.digest('hex').slice(0, 16)}`;
}

/** Rewrite the relative `href`/`src` of an entry page that name one of `assets` (paths). */
export function rewrite(html, assets, folder) {
  return html.replace(/\b(href|src)="(\.\/)?([^"#?:]+)([^"]*)"/g, (all, attr, _dot, path, rest) =>
    assets.has(path) ? `${attr}="./${folder}/${path}${rest}"` : all,
  );
}

/** Fingerprint the site in `dir` in place; returns the asset folder's name. */
export async function fingerprint(dir) {
  const all = await files(dir);
  if (all.some((f) => f.startsWith('assets-'))) throw new Error(`${dir} is already fingerprinted`);
  const folder = await assetFolder(dir);
  const assets = new Set(all.filter((f) => !ENTRY_PAGES.includes(f)));
  const top = new Set([...assets].map((f) => f.split('/')[0]));
  await mkdir(join(dir, folder));
  for (const name of top) await rename(join(dir, name), join(dir, folder, name));
  for (const page of ENTRY_PAGES.filter((p) => all.includes(p))) {
    const path = join(dir, page);
    await writeFile(path, rewrite(await readFile(path, 'utf8'), assets, folder));
  }
  return folder;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? 'dist';
  fingerprint(dir).then(
    (folder) => console.log(`${dir}: assets in ${folder}/`),
    (e) => {
      console.error(`fingerprint: ${e.message}`);
      process.exit(1);
    },
  );
}
