// Bundle the front end with esbuild into static/dist/ and write static/dist/manifest.json.
//
//   node build.mjs            minified production build
//   node build.mjs --dev      unminified, with source maps
//
// Entries: landing (small), room (lazy-loads monaco and terminal), the Monaco editor worker
// (its own IIFE bundle) and the service worker (served at /sw.js with its precache list).
import * as esbuild from 'esbuild'
import { createHash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(fileURLToPath(import.meta.url))
const outdir = path.join(root, 'static', 'dist')
const dev = process.argv.includes('--dev')
// The real path: with node_modules behind a symlink, esbuild resolves Monaco's relative imports
// through the real path, and the same module under two paths would run twice.
const monacoRoot = realpathSync(path.join(root, 'node_modules', 'monaco-editor'))

// monaco-editor's package "exports" hide its esm/ tree (y-monaco imports
// monaco-editor/esm/vs/editor/editor.api.js), so resolve those paths to the files directly.
const monacoEsmPlugin = {
  name: 'monaco-esm',
  setup (build) {
    build.onResolve({ filter: /^monaco-editor\/esm\// }, args => ({
      path: path.join(monacoRoot, args.path.slice('monaco-editor/'.length))
    }))
  }
}

const common = {
  bundle: true,
  minify: !dev,
  sourcemap: dev,
  target: ['es2022'],
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [monacoEsmPlugin],
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' }
}

const rel = p => path.relative(outdir, path.join(root, p)).split(path.sep).join('/')

async function build () {
  await rm(outdir, { recursive: true, force: true })
  await mkdir(outdir, { recursive: true })
  const manifest = {}

  // 1. The Monaco editor worker: a classic script so every browser can start it.
  const worker = await esbuild.build({
    ...common,
    entryPoints: { 'editor.worker': 'src/editor.worker.js' },
    format: 'iife',
    outdir,
    entryNames: '[name]-[hash]',
    metafile: true
  })
  collect(worker.metafile, manifest, ['src/editor.worker.js'])

  // 2. The pages: ESM with code splitting so Monaco and xterm load only when a room needs them.
  const pages = await esbuild.build({
    ...common,
    entryPoints: {
      landing: 'src/landing.js',
      room: 'src/room.js',
      editor: 'src/editor.js',
      terminal: 'src/terminal.js',
      app: 'src/app.css'
    },
    format: 'esm',
    splitting: true,
    outdir,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunks/[name]-[hash]',
    assetNames: 'assets/[name]-[hash]',
    loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.png': 'file', '.svg': 'file' },
    metafile: true
  })
  collect(pages.metafile, manifest, ['src/landing.js', 'src/room.js', 'src/editor.js', 'src/terminal.js', 'src/app.css'])

  // 3. The service worker, with the app shell to precache and a version derived from it.
  // Precache only the app shell: the landing and room pages, the editor core, the editor worker,
  // the stylesheets they load and the fonts those reference, the manifest and icons (what the
  // statically imported closure of those entries needs). Monaco's language tokenizers and the
  // terminal are dynamic imports, fetched and cached by the service worker when first used
  // (hashed names: cache-first), so a phone's first visit does not download every language.
  const outputs = { ...pages.metafile.outputs, ...worker.metafile.outputs }
  const shellRoots = ['landing.js', 'room.js', 'editor.js', 'editor.worker.js', 'app.css', 'editor.css']
    .map(k => path.relative(root, path.join(outdir, manifest[k])).split(path.sep).join('/'))
  const shell = staticClosure(outputs, shellRoots)
  const precache = [...shell]
    .map(p => path.relative(outdir, path.join(root, p)).split(path.sep).join('/'))
    .filter(p => !p.endsWith('.map'))
    .sort()
    .map(p => '/static/dist/' + p)
  precache.push('/static/manifest.webmanifest', '/static/icons/icon-192.png', '/static/icons/icon-512.png')
  const version = createHash('sha256').update(precache.join('\n')).digest('hex').slice(0, 12)
  await esbuild.build({
    ...common,
    entryPoints: ['src/sw.js'],
    format: 'iife',
    outfile: path.join(outdir, 'sw.js'),
    define: {
      ...common.define,
      __PRECACHE__: JSON.stringify(precache),
      __VERSION__: JSON.stringify(version)
    }
  })
  delete manifest['room.css'] // room.js pulls editor/terminal CSS lazily; this bundle is never loaded
  manifest['sw.js'] = 'sw.js'
  manifest._version = version
  await writeFile(path.join(outdir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  await precompress(outdir)
  return { manifest, precache }
}

// Write name.gz beside every text asset; the server sends it to clients that accept gzip.
async function precompress (dir) {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.(js|css|ttf|json|map)$/.test(entry.name)) continue
    const file = path.join(entry.parentPath ?? entry.path, entry.name)
    await writeFile(file + '.gz', gzipSync(await readFile(file), { level: 9 }))
  }
}

// Every output a set of outputs needs before it runs: static imports, CSS @import and url()
// assets (fonts); dynamic imports are left to load (and cache) on use.
function staticClosure (outputs, roots) {
  const seen = new Set()
  const todo = [...roots]
  while (todo.length) {
    const out = todo.pop()
    if (seen.has(out) || !outputs[out]) continue
    seen.add(out)
    const info = outputs[out]
    for (const imp of info.imports || []) if (imp.kind !== 'dynamic-import' && !imp.external) todo.push(imp.path)
  }
  return seen
}

// Map "editor.js" / "editor.css" → hashed output names (relative to static/dist/).
function collect (metafile, manifest, entries) {
  for (const [out, info] of Object.entries(metafile.outputs)) {
    if (!entries.includes(info.entryPoint) || out.endsWith('.map')) continue
    const name = path.basename(info.entryPoint)
    manifest[name] = rel(out)
    if (info.cssBundle) manifest[name.replace(/\.js$/, '.css')] = rel(info.cssBundle)
  }
}

const { manifest, precache } = await build()
console.log(`precache: ${precache.length} files`)
const sizes = await Promise.all(Object.entries(manifest)
  .filter(([k]) => !k.startsWith('_'))
  .map(async ([k, v]) => [k, (await readFile(path.join(outdir, v))).length]))
for (const [k, n] of sizes) console.log(`${k.padEnd(20)} ${(n / 1024).toFixed(1).padStart(8)} KiB  ${manifest[k]}`)
