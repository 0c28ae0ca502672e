// The file tree's cost per change at 2,000 files in headless Chromium: the time the page spends
// synchronously on one change of the `files` map (its observers: tree, tabs), and on one change
// of who-is-in-which-file (the tree's presence dots). Prints one JSON line.
// Usage: node bench/web/tree.mjs BASE_URL [FILES] [CHANGES]
import { launch, openRoom, person } from '../../tests/browser/harness.mjs'

const [base, filesArg, changesArg] = process.argv.slice(2)
const files = Number(filesArg || 2000)
const changes = Number(changesArg || 40)
const browser = await launch()
try {
  const p = await person(browser, base, { name: 'Bench', color: '#e5484d' })
  const room = `tree-${Date.now().toString(36)}`
  await openRoom(p.page, room)
  await p.page.evaluate(n => {
    const { ctx } = window.tandem
    const Text = ctx.files.get('main.py').constructor
    ctx.doc.transact(() => {
      for (let i = 0; i < n; i++) ctx.files.set(`pkg${i % 40}/sub${i % 7}/file${i}.py`, new Text(`# ${i}\n`))
    })
    // Every folder open (the worst case: every row in the tree), as the tree remembers it.
    const folders = new Set()
    for (const path of ctx.files.keys()) for (let d = path.slice(0, path.lastIndexOf('/')); d; d = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '') folders.add(d)
    sessionStorage.setItem('tandem.expanded', JSON.stringify([...folders]))
  }, files)
  await openRoom(p.page, room)
  const result = await p.page.evaluate(async ([n, k]) => {
    const { ctx } = window.tandem
    const Text = ctx.files.get('main.py').constructor
    const rows = document.querySelectorAll('#tree li').length
    const tree = Math.round(document.querySelector('#tree').getBoundingClientRect().height / (parseFloat(getComputedStyle(document.querySelector('#tree')).getPropertyValue('--tree-row')) || 26))
    const frame = () => new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)))
    const time = async change => {
      const t0 = performance.now()
      change()
      const sync = performance.now() - t0
      await frame() // work deferred to the next frame counts too
      return { sync, total: performance.now() - t0 }
    }
    const add = []
    for (let i = 0; i < k; i++) add.push(await time(() => ctx.files.set(`pkg${i % 40}/new${i}.py`, new Text(''))))
    const render = []
    for (let i = 0; i < k; i++) { const t0 = performance.now(); window.tandem.tree.render(); render.push(performance.now() - t0) }
    const pick = (xs, q) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]
    const stats = xs => ({ p50: +pick(xs, 0.5).toFixed(2), p99: +pick(xs, 0.99).toFixed(2) })
    return { rows, tree, files: ctx.files.size, add_sync_ms: stats(add.map(x => x.sync)), add_frame_ms: stats(add.map(x => x.total)), render_ms: stats(render) }
  }, [files, changes])
  process.stdout.write(JSON.stringify({ ok: true, ...result }) + '\n')
} finally {
  await browser.close()
}
