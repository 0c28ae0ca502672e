// Browser scenarios for the room server's hardening (issue 14): `node hardening.mjs NAME BASE_URL`.
import path from 'node:path'
import { ARTIFACTS, assert, openRoom, person, run, until } from './harness.mjs'

const room = tag => `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

const scenarios = {
  /** A comment with a time that is no time is skipped with a note; the others still render. */
  async malformed (browser, base) {
    const a = await person(browser, base, { name: 'Alice', color: '#e5484d' })
    await openRoom(a.page, room('malformed'), { editor: false })
    await a.page.evaluate(() => {
      const { ctx } = window.tandem
      // A Y.Map of the page's own Yjs (`files` is one): what any client could write.
      const make = fields => { const m = new (ctx.files.constructor)(); for (const [k, v] of Object.entries(fields)) m.set(k, v); return m }
      ctx.doc.transact(() => {
        ctx.comments.push([make({ id: 'bad', file: 'main.py', body: 'bad date', createdAt: 'not-a-date', author: { name: 'x' }, resolved: false })])
        ctx.comments.push([make({ id: 'good', file: 'main.py', body: 'a fine comment', createdAt: Date.now(), author: { name: 'Alice' }, resolved: false })])
      })
    })
    await a.page.check('#comments input.show-all')
    await until(a.page, () => document.querySelector('#comments .thread[data-id="good"]') !== null, null, { what: 'the good thread' })
    const note = await a.page.textContent('#comments .malformed')
    assert(/1 malformed comment was skipped/.test(note), `note: ${note}`)
    assert(await a.page.$('#comments .thread[data-id="bad"]') === null, 'the malformed thread rendered')
    await a.page.screenshot({ path: path.join(ARTIFACTS, 'malformed-comment.png') })
    return {}
  },

  /** Delete a line and wait for "Saved": the test then kills the server and checks it held. */
  async deleteSaved (browser, base) {
    const a = await person(browser, base, { name: 'Alice', color: '#e5484d' })
    const name = process.env.TANDEM_ROOM || room('delete')
    await openRoom(a.page, name, { editor: false })
    await a.page.evaluate(() => window.tandem.ctx.files.get('main.py').insert(0, 'KEEP\nDELETE ME\n'))
    await until(a.page, () => document.querySelector('#saved').dataset.state === 'saved', null, { what: 'inserted text saved', timeout: 20000 })
    const states = []
    await a.page.exposeFunction('__savedState', s => states.push(s))
    await a.page.evaluate(() => {
      const el = document.querySelector('#saved')
      new MutationObserver(() => window.__savedState(el.dataset.state)).observe(el, { attributes: true })
      const y = window.tandem.ctx.files.get('main.py')
      y.delete(5, 10) // "DELETE ME\n": a pure deletion
    })
    await until(a.page, () => document.querySelector('#saved').dataset.state === 'saved' && !window.tandem.ctx.files.get('main.py').toString().includes('DELETE ME'),
      null, { what: 'the deletion saved', timeout: 20000 })
    const text = await a.page.evaluate(() => window.tandem.ctx.files.get('main.py').toString())
    return { room: name, text, states }
  }
}

run(scenarios)
