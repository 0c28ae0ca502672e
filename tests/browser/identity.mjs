// One identity everywhere, roles in the UI, files and the presence bar, on the authenticated
// server: `node identity.mjs NAME BASE_URL` with TANDEM_SETUP from ui_support.py.
import { assert, eq, run, until } from './harness.mjs'
import { enter, presence, setup, shot } from './uiharness.mjs'

async function ownerWithMainPy (browser, base) {
  const owner = await enter(browser, base, setup.owner)
  await owner.page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
  await owner.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=true]', { timeout: 15000 })
  return owner
}

const scenarios = {
  /** A guest's chosen name and the account's name are what everyone sees: chips, cursors,
   * comments; colours differ; a picked colour reaches the others. */
  async identity (browser, base) {
    const owner = await ownerWithMainPy(browser, base)
    const bob = await enter(browser, base, 'Bob')
    await bob.page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
    // Own chip: the name typed on the join page, never a made-up one.
    await bob.page.waitForSelector('#presence .person[data-self=true]')
    eq(await bob.page.textContent('#presence .person[data-self=true] .pname'), 'Bob (you)', "Bob's own chip")
    eq(await owner.page.textContent('#presence .person[data-self=true] .pname'), `${setup.owner} (you)`, "the owner's own chip")
    await until(owner.page, () => document.querySelector('#presence .person[data-self=false][data-name="Bob"]'), null, { what: 'Bob in the owner\'s presence' })
    await until(bob.page, n => document.querySelector(`#presence .person[data-self=false][data-name="${n}"]`), setup.owner, { what: 'the owner in Bob\'s presence' })
    // Distinct colours, and the page's own colour is the one the server stamps for the others.
    const seen = await presence(owner.page)
    const bobRemote = seen.find(p => p.name === 'Bob')
    const ownerSelf = seen.find(p => p.self)
    assert(bobRemote && ownerSelf && bobRemote.color !== ownerSelf.color, `colours differ: ${JSON.stringify(seen)}`)
    const bobSelf = (await presence(bob.page)).find(p => p.self)
    eq(bobSelf.color, bobRemote.color, "Bob's colour on his page and on the owner's")
    eq(bobSelf.id, bobRemote.id, "Bob's id on his page and the server-stamped one")
    // Cursor label: Bob's caret in the owner's editor carries "Bob".
    await bob.page.evaluate(() => { const ed = window.tandem.editor().editor; ed.setPosition({ lineNumber: 1, column: 3 }); ed.focus() })
    await until(owner.page, () => /content:"Bob"/.test(document.querySelector('#tandem-cursors')?.textContent || ''), null, { what: "Bob's cursor label" })
    // A comment is signed with the principal's identity (id, name, colour) and a numeric time.
    await bob.page.evaluate(() => {
      const ed = window.tandem.editor().editor
      ed.setSelection({ startLineNumber: 1, startColumn: 1, endLineNumber: 1, endColumn: 8 })
      ed.focus()
    })
    await bob.page.click('#comments .add-comment')
    await bob.page.fill('#comments form.new-comment textarea', 'Looks good')
    await bob.page.click('#comments form.new-comment button[type=submit]')
    const author = await until(owner.page, () => {
      const c = window.tandem.ctx.comments.toArray().find(t => t.get('body') === 'Looks good')
      return c ? { ...c.get('author'), at: c.get('createdAt') } : null
    }, null, { what: "Bob's comment at the owner's" })
    eq(author.name, 'Bob', 'comment author name')
    eq(author.id, bobRemote.id, 'comment author id = the principal id in presence')
    eq(author.color, bobRemote.color, 'comment author colour')
    assert(typeof author.at === 'number', 'createdAt is a number')
    await owner.page.click('#comments .show-all').catch(() => {})
    await until(owner.page, () => [...document.querySelectorAll('#comments .message .author')].some(e => e.textContent === 'Bob'), null, { what: 'comment shown as Bob' })
    // Bob picks his colour: his chip and the owner's view of him change, live.
    await bob.page.click('#presence .person[data-self=true] .avatar')
    const pick = await bob.page.evaluate(c => [...document.querySelectorAll('.color-menu .swatch')].map(b => b.dataset.color).find(x => x !== c), bobSelf.color)
    await bob.page.click(`.color-menu .swatch[data-color="${pick}"]`)
    await until(bob.page, c => document.querySelector('#presence .person[data-self=true]')?.dataset.color === c, pick, { what: "Bob's chip in his pick" })
    await until(owner.page, c => document.querySelector('#presence .person[data-name="Bob"]')?.dataset.color === c, pick, { what: "Bob's picked colour at the owner's", timeout: 15000 })
    await shot(owner.page, 'identity-owner.png')
    await shot(bob.page, 'identity-bob.png')
    return { ownerColor: ownerSelf.color, bobColor: bobRemote.color, picked: pick }
  },

  /** Controls exist only for roles that may use them; a refused change does not stay. */
  async roles (browser, base) {
    // The owner opens the room (seeding main.py) and comments on it.
    const owner = await ownerWithMainPy(browser, base)
    await owner.page.evaluate(() => {
      const ed = window.tandem.editor().editor
      ed.setSelection({ startLineNumber: 1, startColumn: 1, endLineNumber: 1, endColumn: 8 })
      ed.focus()
    })
    await owner.page.click('#comments .add-comment')
    await owner.page.fill('#comments form.new-comment textarea', 'Please check')
    await owner.page.click('#comments form.new-comment button[type=submit]')
    const viewer = await enter(browser, base, 'Vera')
    const commenter = await enter(browser, base, 'Cora')
    for (const [p, role] of [[viewer, 'viewer'], [commenter, 'commenter']]) {
      await p.page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
      eq(await p.page.getAttribute('body', 'data-role'), role, 'role on the page')
      assert(!(await p.page.isVisible('#new-file')), `${role}: no + File`)
      assert(!(await p.page.isVisible('#new-folder')), `${role}: no + Folder`)
      assert(await p.page.evaluate(() => window.tandem.readOnly === true), `${role}: read-only editor`)
      await p.page.waitForSelector('#comments .thread', { timeout: 15000 })
    }
    // Viewer: no comment actions at all.
    eq(await viewer.page.locator('#comments .add-comment').count(), 0, 'viewer: no Comment button')
    eq(await viewer.page.locator('#comments .thread .resolve').count(), 0, 'viewer: no Resolve')
    eq(await viewer.page.locator('#comments .thread .reply').count(), 0, 'viewer: no Reply')
    // Commenter: comments yes.
    assert(await commenter.page.locator('#comments .add-comment').count() === 1, 'commenter: Comment button')
    assert(await commenter.page.locator('#comments .thread .reply textarea').count() > 0, 'commenter: Reply')
    // A commenter's own comment is kept (the server confirms it durable; nothing is dropped).
    await commenter.page.evaluate(() => {
      const ed = window.tandem.editor().editor
      ed.setSelection({ startLineNumber: 1, startColumn: 1, endLineNumber: 1, endColumn: 4 })
    })
    await commenter.page.click('#comments .add-comment')
    await commenter.page.fill('#comments form.new-comment textarea', 'A question')
    await commenter.page.click('#comments form.new-comment button[type=submit]')
    eq(await commenter.page.getAttribute('body', 'data-unconfirmed'), '1', 'the comment awaits the server')
    await commenter.page.waitForSelector('body[data-unconfirmed="0"] #saved[data-state=saved]', { timeout: 20000 })
    await until(viewer.page, () => window.tandem.ctx.comments.toArray().some(c => c.get('body') === 'A question'), null, { what: "the commenter's comment reaches others" })
    assert(await commenter.page.evaluate(() => !document.body.dataset.refused), 'a comment is not refused')
    await shot(viewer.page, 'roles-viewer.png')
    // A change the server refuses (a viewer's reply, made anyway) is dropped with a reason.
    await viewer.page.evaluate(() => window.tandem.ctx.comments.get(0).set('resolved', true))
    await viewer.page.waitForSelector('body[data-refused=true]', { timeout: 20000 })
    await viewer.page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
    const resolved = await viewer.page.evaluate(() => window.tandem.ctx.comments.get(0).get('resolved'))
    eq(resolved, false, "the viewer's page shows the server's state")
    const toast = await viewer.page.textContent('#toast')
    assert(/not saved/.test(toast) && /viewer/.test(toast), `the page says why: ${toast}`)
    await shot(viewer.page, 'roles-viewer-refused.png')
    // A commenter's edit of the code is refused the same way.
    await commenter.page.evaluate(() => window.tandem.ctx.files.get('main.py').insert(0, 'HACK '))
    await commenter.page.waitForSelector('body[data-refused=true]', { timeout: 20000 })
    await commenter.page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
    await until(commenter.page, () => window.tandem.ctx.files.get('main.py') && !window.tandem.ctx.files.get('main.py').toString().startsWith('HACK'), null, { what: 'server copy of main.py' })
    // A refused change kept in the page's IndexedDB copy (written there directly, as an earlier
    // session of this browser would have) is dropped on the next load, with the reason.
    await viewer.page.evaluate(async () => {
      const { ctx } = window.tandem
      const scratch = new ctx.doc.constructor()
      const updates = []
      scratch.on('update', u => updates.push(u))
      const YMap = ctx.comments.get(0).constructor
      const thread = new YMap()
      scratch.getArray('comments').push([thread])
      thread.set('body', 'INJECTED')
      await new Promise((resolve, reject) => {
        const tx = ctx.idb.db.transaction(['updates'], 'readwrite')
        for (const u of updates) tx.objectStore('updates').add(u)
        tx.oncomplete = resolve
        tx.onerror = () => reject(tx.error)
      })
    })
    await viewer.page.reload()
    await until(viewer.page, () => document.body.dataset.refused === 'true' && document.body.dataset.connection === 'online' &&
      !window.tandem.ctx.comments.toArray().some(c => c.get('body') === 'INJECTED'), null, { what: 'the stored refused change dropped', timeout: 30000 })
    // The owner makes the viewer an editor: her page follows, live, with the editing controls.
    await owner.page.evaluate(async ([session, name]) => {
      const csrf = (await (await fetch('/api/auth/csrf')).json()).csrf_token
      const people = await (await fetch(`/api/sessions/${session}/participants`)).json()
      const who = people.find(p => p.name === name)
      const r = await fetch(`/api/sessions/${session}/participants/${who.id}`, { method: 'PATCH', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ role: 'editor' }) })
      if (!r.ok) throw new Error(`role change: HTTP ${r.status}`)
    }, [setup.session, 'Vera'])
    await viewer.page.waitForSelector('body[data-role-changed=editor][data-role=editor]', { timeout: 20000 })
    await viewer.page.waitForSelector('#new-file', { state: 'visible' })
    assert(await viewer.page.locator('#comments .add-comment').count() === 1, 'an editor comments')
    return {}
  },

  /** "+ Folder"/"+ File" then Enter: the box closes and the tree shows the new entry. */
  async files (browser, base) {
    const owner = await enter(browser, base, setup.owner)
    await owner.page.waitForSelector('#tree li[data-path]', { timeout: 15000 })
    await owner.page.click('#new-folder')
    await owner.page.keyboard.type('docs')
    await owner.page.keyboard.press('Enter')
    await until(owner.page, () => document.querySelector('#tree li[data-kind=folder][data-path=docs]') && !document.querySelector('#tree input.inline'), null, { what: 'folder docs in the tree, name box closed' })
    await owner.page.click('#new-file')
    await owner.page.keyboard.type('notes.md')
    await owner.page.keyboard.press('Enter')
    await until(owner.page, () => document.querySelector('#tree li[data-kind=file][data-path="notes.md"]') && !document.querySelector('#tree input.inline'), null, { what: 'notes.md in the tree, name box closed' })
    await shot(owner.page, 'files-tree.png')
    // A name longer than a file system allows is refused with a reason (it could never reach
    // the workspace), and nothing is created.
    await owner.page.click('#new-file')
    await owner.page.keyboard.type('x'.repeat(256) + '.txt')
    await owner.page.keyboard.press('Enter')
    await owner.page.waitForSelector('#toast:text("at most 255 bytes")')
    assert(!(await owner.page.evaluate(() => [...window.tandem.ctx.files.keys()].some(p => p.length > 255))), 'no over-long file in the doc')
    // A long (allowed) name: its tab stays a tab, not the whole strip.
    await owner.page.click('#new-file')
    await owner.page.keyboard.type('y'.repeat(200) + '.txt')
    await owner.page.keyboard.press('Enter')
    const tab = owner.page.locator(`#tabs .tab[data-path="${'y'.repeat(200)}.txt"]`)
    await tab.waitFor()
    const width = (await tab.boundingBox()).width
    assert(width < 400, `the long name's tab is clipped: ${width}px wide`)
    // Double-click renames a file that is not the open one (its first click opens it and
    // re-renders the tree, which must not swallow the second click).
    await owner.page.waitForSelector('#tabs .tab[data-path="main.py"][aria-selected=false]')
    await owner.page.dblclick('#tree li[data-path="main.py"] > .row .name')
    await owner.page.waitForSelector('#tree input.inline', { timeout: 3000 })
    eq(await owner.page.inputValue('#tree input.inline'), 'main.py', 'the rename box holds the path')
    await owner.page.keyboard.press('Control+A')
    await owner.page.keyboard.type('docs/app.py')
    await owner.page.keyboard.press('Enter')
    await until(owner.page, () => window.tandem.ctx.files.has('docs/app.py') && !window.tandem.ctx.files.has('main.py'), null, { what: 'main.py renamed to docs/app.py by double-click' })
    return {}
  },

  /** A name that starts with an emoji: its avatar shows the whole emoji (not half a surrogate
   * pair, which renders as "\uFFFD"), on its own page and on the owner's. */
  async emojiname (browser, base) {
    const name = setup.emoji
    const owner = await ownerWithMainPy(browser, base)
    const fox = await enter(browser, base, name)
    const avatar = (page, self) => until(page, ([n, s]) => document.querySelector(`#presence .person[data-self=${s}][data-name="${n}"] .avatar`)?.textContent, [name, self], { what: `${name}'s avatar` })
    eq(await avatar(fox.page, true), '🦊F', 'the avatar on their own page')
    eq(await avatar(owner.page, false), '🦊F', "the avatar on the owner's page")
    return {}
  },

  /** A big tree renders only the rows in view, and every row is still reachable by scrolling. */
  async bigtree (browser, base) {
    const owner = await ownerWithMainPy(browser, base)
    await owner.page.evaluate(() => {
      const { ctx } = window.tandem
      const Text = ctx.files.get('main.py').constructor
      ctx.doc.transact(() => { for (let i = 0; i < 1000; i++) ctx.files.set(`big/f${String(i).padStart(4, '0')}.txt`, new Text(String(i))) })
    })
    await owner.page.click('#tree li[data-kind=folder][data-path=big] > .row')
    await owner.page.waitForSelector('#tree.virtual li[data-path="big/f0000.txt"]')
    const inDom = await owner.page.locator('#tree li').count()
    assert(inDom < 200, `only the rows in view are in the DOM: ${inDom}`)
    await owner.page.evaluate(() => { const s = document.querySelector('.sidebar'); s.scrollTop = s.scrollHeight })
    await owner.page.waitForSelector('#tree li[data-path="big/f0999.txt"]')
    await owner.page.click('#tree li[data-path="big/f0999.txt"] > .row')
    await owner.page.waitForSelector('#tabs .tab[data-path="big/f0999.txt"][aria-selected=true]')
    await shot(owner.page, 'tree-big.png')
    return { inDom }
  },

  /** Seven people: the presence bar shows some and "+N", with the rest in a list; never clips. */
  async overflow (browser, base) {
    const others = setup.crowd
    const pages = []
    for (const who of others) pages.push(await enter(browser, base, who, { viewport: { width: 1000, height: 700 } }))
    const owner = await enter(browser, base, setup.owner, { viewport: { width: 1280, height: 800 } })
    await until(owner.page, n => document.querySelectorAll('#presence .person').length + Number((document.querySelector('#presence .more')?.textContent || '+0').slice(1)) >= n, others.length + 1, { what: 'everyone counted' })
    const more = await owner.page.textContent('#presence .more')
    assert(/^\+\d+$/.test(more), `a +N button: ${more}`)
    const fits = await owner.page.evaluate(() => { const el = document.querySelector('#presence'); return el.scrollWidth <= el.clientWidth + 1 })
    assert(fits, 'the presence bar does not clip')
    const bar = await owner.page.evaluate(() => { const r = document.querySelector('.topbar > :last-child').getBoundingClientRect(); return r.right <= innerWidth })
    assert(bar, 'the top bar keeps its last control on screen')
    await owner.page.click('#presence .more')
    await owner.page.waitForSelector('.presence-more .person')
    const listed = await owner.page.locator('.presence-more .person').count()
    eq(`+${listed}`, more, 'the list holds the people behind +N')
    await shot(owner.page, 'presence-overflow.png')
    for (const p of pages) await p.context.close()
    return { more }
  }
}

run(scenarios)
