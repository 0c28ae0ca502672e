// Phone (390×844) and terminal layout on the authenticated server, with Docker terminals:
// `node phone.mjs NAME BASE_URL` with TANDEM_SETUP from ui_support.py.
import { assert, eq, until } from './harness.mjs'
import { run } from './harness.mjs'
import { enter, setup, shot } from './uiharness.mjs'

const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36'
}
const XTERM = '#panels .term-view[data-term=main] .xterm-screen'

/** Nothing of the page sticks out to the right of the screen. */
const fitsWidth = page => page.evaluate(() => document.documentElement.scrollWidth <= innerWidth)

const scenarios = {
  async phone (browser, base) {
    // The owner, on a desktop, runs something wide in the terminal.
    const owner = await enter(browser, base, setup.owner)
    await owner.page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
    await owner.page.click('#panels [data-panel=terminal]')
    await owner.page.waitForSelector('#panels[data-terminal=running]', { timeout: 90000 })
    await owner.page.click(XTERM)
    // Layout: focusing the terminal never scrolls the page, the top bar stays, the last row shows.
    const layout = await owner.page.evaluate(() => {
      let scrolled = 0
      for (let el = document.querySelector('.xterm-helper-textarea'); el; el = el.parentElement) scrolled += el.scrollTop
      const body = document.querySelector('[data-panel-body=terminal]').getBoundingClientRect()
      const screen = document.querySelector('#panels .term-view[data-term=main] .xterm-screen').getBoundingClientRect()
      const view = document.querySelector('#panels .term-view[data-term=main]').getBoundingClientRect()
      const t = window.tandem.panels.terminals.get('main').term
      return { view: [view.top, view.bottom], rows: t.rows, cols: t.cols, bodyTop: body.top, screenTop: screen.top, scrolled, topbar: document.querySelector('.topbar').getBoundingClientRect().top, screenBottom: screen.bottom, bodyBottom: body.bottom, screenRight: screen.right, bodyRight: body.right }
    })
    eq(layout.scrolled, 0, 'nothing scrolled when the terminal took focus')
    eq(layout.topbar, 0, 'the top bar stays at the top')
    assert(layout.screenBottom <= layout.bodyBottom + 0.5, `the last terminal row fits: ${JSON.stringify(layout)}`)
    await owner.page.keyboard.type('echo ' + 'x'.repeat(30) + 'END')
    await owner.page.keyboard.press('Enter')
    await shot(owner.page, 'desktop-terminal.png')
    const ownerCols = await owner.page.evaluate(() => window.tandem.panels.terminals.get('main').term.cols)

    // A viewer on a phone.
    const viewer = await enter(browser, base, 'Pat', { device: PHONE })
    await viewer.page.waitForSelector('body[data-editor=ready]', { timeout: 20000 })
    assert(await fitsWidth(viewer.page), 'the room fits the phone')
    // Follow the owner: the banner offers a button, not keys a phone does not have.
    await viewer.page.tap('.phone-nav [data-pane=people]')
    await viewer.page.tap(`#people .person[data-name="${setup.owner}"] .follow`)
    await viewer.page.waitForSelector('#follow-banner:not([hidden])')
    assert(!(await viewer.page.isVisible('#follow-hint')), 'no "type or press Esc" on a phone')
    const stop = await viewer.page.evaluate(() => { const r = document.querySelector('#stop-follow').getBoundingClientRect(); return { right: r.right, text: document.querySelector('#stop-follow').textContent } })
    eq(stop.text, 'Stop following', 'the banner button')
    assert(stop.right <= 390, 'the button is on screen')
    await shot(viewer.page, 'phone-follow.png')
    await viewer.page.tap('#stop-follow')
    await viewer.page.waitForSelector('#follow-banner', { state: 'hidden' })
    // The terminal fits the phone's width, whatever size the owner's terminal is.
    await viewer.page.tap('.phone-nav [data-pane=screen]')
    await viewer.page.tap('#panels [data-panel=terminal]')
    await viewer.page.waitForSelector('#panels[data-terminal=running]', { timeout: 30000 })
    await until(viewer.page, n => window.tandem.panels.terminals.get('main')?.term?.cols === n, ownerCols, { what: "the owner's terminal size on the phone" })
    await until(viewer.page, sel => { const r = document.querySelector(sel)?.getBoundingClientRect(); return r && r.width > 0 && r.right <= innerWidth }, XTERM, { what: 'the terminal within the phone width' })
    assert(await fitsWidth(viewer.page), 'the terminal pane fits the phone')
    await until(viewer.page, () => [...document.querySelectorAll('#panels .term-view[data-term=main] .xterm-rows > div')].some(r => r.textContent.includes('END')), null, { what: 'output on the phone' })
    await shot(viewer.page, 'phone-terminal.png')
    // Tapping the selected panel tab again keeps the panel (no blank screen).
    await viewer.page.tap('#panels [data-panel=terminal]')
    const after = await viewer.page.evaluate(() => {
      const r = document.querySelector('[data-panel-body=terminal]').getBoundingClientRect()
      return { open: document.querySelector('#panels').dataset.open, height: r.height }
    })
    eq(after.open, 'true', 'the panel stays open')
    assert(after.height > 200, `the terminal still fills the screen: ${after.height}`)
    await shot(viewer.page, 'phone-terminal-retap.png')

    // The owner on a phone: the top bar also holds Invite, and the title still gets the room
    // ("Tandem  Pa…" once: the wordmark and "Live" now shrink to icons first).
    const ownerPhone = await enter(browser, base, setup.owner, { device: PHONE })
    await ownerPhone.page.waitForSelector('#invite', { state: 'visible' })
    const bar = await ownerPhone.page.evaluate(() => {
      const t = document.querySelector('#title')
      return { shown: t.getBoundingClientRect().width, full: t.scrollWidth, invite: document.querySelector('#invite').getBoundingClientRect().right }
    })
    assert(bar.shown >= Math.min(bar.full, 100), `the session title gets room beside Invite: ${JSON.stringify(bar)}`)
    assert(bar.invite <= 390, `Invite ends on screen: ${JSON.stringify(bar)}`)
    await shot(ownerPhone.page, 'phone-owner-topbar.png')

    // The join card fits a phone.
    const stranger = await browser.newContext({ ...PHONE, baseURL: base })
    const join = await stranger.newPage()
    await join.goto(`/join/${setup.viewerToken}`)
    await join.waitForSelector('input#name')
    assert(await fitsWidth(join), 'the join page fits the phone')
    const card = await join.evaluate(() => document.querySelector('main').getBoundingClientRect().right)
    assert(card <= 390, `the join card ends on screen: ${card}`)
    await shot(join, 'phone-join.png')
    return { ownerCols }
  }
}

run(scenarios)
