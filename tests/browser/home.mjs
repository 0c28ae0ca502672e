// Home, titles and people in real Chromium against the default (authenticated) server, through
// the UI only: `node home.mjs NAME BASE_URL`.
import path from 'node:path'
import {
  ARTIFACTS, assert, caret, closeDialog, createLink, docText, eq, joinLink, newSession, person, run, signUp, until
} from './harness.mjs'

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name) })
const tag = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`
const row = id => `#session-list .session[data-session="${id}"]`

const scenarios = {
  // My sessions: New session, the list (owned and joined, online), rename and delete for the
  // owner, leave for a guest (whose list shows the session while the pass lasts).
  async home (browser, base) {
    const a = await person(browser, base, { name: 'Hana', seed: false })
    const b = await person(browser, base, { name: 'Gil', seed: false })
    await signUp(a.page, 'Hana')
    // A title of only spaces: the form says what is missing and stays open (no session made).
    // The page opens the form itself once its list is in (none yet): wait for that, not race it.
    await until(a.page, () => !document.querySelector('#new-session-form').hidden || document.querySelector('#session-list li'), null, { what: 'the home list' })
    if (!(await a.page.locator('#new-session-form').isVisible())) await a.page.click('#new-session')
    await a.page.fill('#new-title', '   ')
    await a.page.click('#new-session-form button[type=submit]')
    await a.page.waitForSelector('#new-error:not([hidden]):text-is("Give the session a name.")')
    eq(new URL(a.page.url()).pathname, '/', 'still on the home page')
    const title = `Home ${tag()}`
    const id = await newSession(a.page, title)
    const url = await createLink(a.page, 'commenter')
    await closeDialog(a.page)
    await joinLink(b.page, url, 'Gil', { editor: false })

    // The owner's list: the session, its role, who is online (both pages are in the room).
    const home = await a.context.newPage()
    await home.goto('/')
    await home.waitForSelector(`${row(id)}[data-role=owner] .open:text-is("${title}")`)
    await until(home, sel => /2 online/.test(document.querySelector(sel)?.textContent || ''), `${row(id)} .online`,
      { what: 'two people online', timeout: 20000 })
    eq(await home.getAttribute(`${row(id)} .open`, 'href'), `/s/${id}`, 'the row opens the room')
    await shot(home, 'home-list.png')

    // The guest's own list (no account: the guest pass) shows it, marked as a guest's.
    const gHome = await b.context.newPage()
    await gHome.goto('/')
    await gHome.waitForSelector(`${row(id)}[data-role=commenter] .role-tag:text-is("commenter · guest")`)
    eq(await gHome.isVisible('#new-session'), false, 'New session for a guest without an account')
    eq(await gHome.isVisible(`${row(id)} .rename`), false, 'Rename for a guest')

    // Rename from the home list: the room's top bar follows, live.
    await home.click(`${row(id)} .rename`)
    await home.fill(`${row(id)} .rename-form input`, `${title} (renamed)`)
    await home.click(`${row(id)} .rename-form button[type=submit]`)
    await home.waitForSelector(`${row(id)} .open:text-is("${title} (renamed)")`)
    await a.page.reload()
    await a.page.waitForSelector(`#title:text-is("${title} (renamed)")`)
    await until(b.page, t => document.querySelector('#title')?.textContent === t, `${title} (renamed)`,
      { what: "the rename on the guest's open page" })

    // The guest leaves: gone from their list, and their open room page says it lost access.
    await gHome.click(`${row(id)} .leave`)
    await gHome.waitForSelector(row(id), { state: 'detached' })
    await b.page.waitForSelector('body[data-access=lost] .access-lost', { timeout: 5000 })

    // The owner deletes it: gone from the list, the open room says so.
    await home.click(`${row(id)} .delete`)
    await home.waitForSelector(row(id), { state: 'detached' })
    await a.page.waitForSelector('body[data-access=lost] .access-lost h2:text-is("This session was deleted.")', { timeout: 5000 })
    await shot(a.page, 'room-deleted.png')
  },

  // The owner renames the session in the top bar; everyone in the room sees the new title.
  async title (browser, base) {
    const a = await person(browser, base, { name: 'Hana', seed: false })
    const b = await person(browser, base, { name: 'Tom', seed: false })
    await signUp(a.page, 'Hana')
    const title = `Title ${tag()}`
    await newSession(a.page, title)
    eq(await a.page.textContent('#title'), title, 'the title, not the id')
    eq(await a.page.title(), `${title} · Tandem`, 'the tab title')
    const url = await createLink(a.page, 'editor')
    await closeDialog(a.page)
    await joinLink(b.page, url, 'Tom')
    eq(await b.page.textContent('#title'), title, "the title on the editor's page")
    eq(await b.page.$eval('#title', el => el.classList.contains('editable')), false, 'renaming offered to a non-owner')

    await a.page.click('#title')
    await a.page.fill('#title input', `${title} v2`)
    await a.page.press('#title input', 'Enter')
    await a.page.waitForSelector(`#title:text-is("${title} v2")`)
    await until(b.page, t => document.querySelector('#title')?.textContent === t && document.title.startsWith(t), `${title} v2`,
      { what: 'the new title on the other page' })
    // Escape cancels; an empty title is not sent.
    await a.page.click('#title')
    await a.page.fill('#title input', 'nope')
    await a.page.press('#title input', 'Escape')
    await a.page.waitForSelector(`#title:text-is("${title} v2")`)
    await shot(a.page, 'title.png')
  },

  // The owner changes a role and removes someone in the People list: both take effect live.
  async people (browser, base) {
    const a = await person(browser, base, { name: 'Hana', seed: false })
    const b = await person(browser, base, { name: 'Pia', seed: false })
    await signUp(a.page, 'Hana')
    await newSession(a.page, `People ${tag()}`)
    const url = await createLink(a.page, 'editor')
    await a.page.waitForSelector('#people-list .no-people')
    await closeDialog(a.page)
    await joinLink(b.page, url, 'Pia')
    await caret(b.page, 1, 1)
    await b.page.keyboard.type('# pia was here\n')
    await until(a.page, () => window.tandem.ctx.files.get('main.py')?.toString().includes('# pia was here'), null, { what: "Pia's edit" })

    await a.page.click('#invite')
    const pia = '#people-list .participant:has(.pname:text-is("Pia"))'
    await a.page.waitForSelector(`${pia}[data-role=editor]`)
    await a.page.selectOption(`${pia} select.role`, 'viewer')
    await a.page.waitForSelector(`${pia}[data-role=viewer]`)
    await shot(a.page, 'people.png')
    // The server re-checks Pia's connection (within the access poll) and restamps her presence.
    await until(a.page, () => [...window.tandem.ctx.awareness.getStates().values()].some(s => s.user?.name === 'Pia' && s.user.role === 'viewer'),
      null, { what: "Pia's presence restamped as a viewer" })
    // Pia's page hears of it and reloads with the matching controls (and says why).
    await b.page.waitForSelector('body[data-role-changed=viewer][data-role=viewer]', { timeout: 20000 })
    await until(b.page, () => Boolean(window.tandem?.ctx.files.get('main.py')), null, { what: "Pia's reloaded page synced" })
    // Pia's next edit is refused by the server: it never reaches Alice's document.
    const before = await docText(a.page, 'main.py')
    await closeDialog(a.page)
    await b.page.evaluate(() => window.tandem.ctx.files.get('main.py').insert(0, '# refused\n'))
    await caret(a.page, 1, 1)
    await a.page.keyboard.type('# owner after\n')
    await until(b.page, () => window.tandem.ctx.files.get('main.py')?.toString().includes('# owner after'), null, { what: "the owner's edit on Pia's page" })
    const after = await docText(a.page, 'main.py')
    assert(!after.includes('# refused'), `a viewer's edit reached the owner: ${JSON.stringify(after)}`)
    assert(after.includes(before.trim().split('\n')[0]), 'the document kept its content')

    // Removing Pia closes her page's room: it says so.
    await a.page.click('#invite')
    await a.page.click(`${pia} .remove`)
    await a.page.waitForSelector(pia, { state: 'detached' })
    await b.page.waitForSelector('body[data-access=lost] .access-lost', { timeout: 5000 })
  }
}

run(scenarios)
