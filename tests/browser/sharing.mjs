// Screen share in the room UI on the authenticated server: the sharer's preview and who watches,
// a readable "Stop watching", and a watcher (not following) that resumes after a server restart.
//   node sharing.mjs share BASE_URL   (TANDEM_SETUP from ui_support.py; "done" on stdin after the restart)
import { createInterface } from 'node:readline'
import { assert, eq, run, until } from './harness.mjs'
import { enter, setup, shot } from './uiharness.mjs'

const FLAGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection']
const SHARE = '#panels [data-panel-body=share]'

/** The page's WebRTC sees only 127.0.0.1 candidates (as in screenshare.mjs). */
function loopbackOnly () {
  const Native = window.RTCPeerConnection
  window.RTCPeerConnection = class extends Native {
    set onicecandidate (fn) {
      super.onicecandidate = fn && (e => { if (!e.candidate || e.candidate.address === '127.0.0.1') fn.call(this, e) })
    }

    get onicecandidate () { return super.onicecandidate }
  }
}

function fromDriver () {
  const rl = createInterface({ input: process.stdin })
  return new Promise(resolve => rl.once('line', line => { rl.close(); process.stdin.destroy(); resolve(line) }))
}

async function playing (page, sel, what) {
  const first = await until(page, s => {
    const v = document.querySelector(s)
    return v && !v.hidden && v.videoWidth > 0 && { t: v.currentTime }
  }, sel, { timeout: 30000, what: `${what}: first frame` })
  await until(page, ([s, f]) => document.querySelector(s).currentTime > f.t, [sel, first], { timeout: 30000, what: `${what}: playing` })
}

/** WCAG contrast ratio of two computed rgb() colours. */
function contrast (a, b) {
  const lum = c => {
    const [r, g, bl] = c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 })
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl
  }
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p)
  return (x + 0.05) / (y + 0.05)
}

const scenarios = {
  async share (browser, base) {
    const owner = await enter(browser, base, setup.owner, { room: false })
    const bob = await enter(browser, base, 'Bob', { room: false })
    for (const p of [owner, bob]) {
      await p.context.addInitScript(loopbackOnly)
      await p.page.goto(`/s/${encodeURIComponent(setup.session)}`)
      await p.page.waitForSelector('#conn[data-state=online]', { timeout: 15000 })
    }
    // The owner shares and sees a preview of it.
    await owner.page.click('#panels [data-panel=share]')
    await owner.page.click(`${SHARE} .share-toggle`)
    await owner.page.waitForSelector(`${SHARE}[data-sharing=true]`)
    await playing(owner.page, `${SHARE} .share-preview`, 'the sharer\'s preview')
    eq(await owner.page.textContent(`${SHARE} .share-viewers`), 'Nobody is watching yet', 'before anyone watches')
    // Bob watches (without following); the owner sees who watches.
    await bob.page.click('#panels [data-panel=share]')
    const watchBtn = `${SHARE} .share-list button:text-is("Watch ${setup.owner}")`
    await bob.page.click(watchBtn)
    await playing(bob.page, '#screen', "the owner's share on Bob's page")
    await until(owner.page, s => document.querySelector(s)?.textContent === 'Watching you: Bob', `${SHARE} .share-viewers`, { what: 'the sharer sees Bob watching' })
    // "Stop watching" stays readable, hovered too.
    const stopBtn = `${SHARE} .share-list button[aria-pressed=true]`
    await bob.page.hover(stopBtn)
    const look = await bob.page.evaluate(s => { const st = getComputedStyle(document.querySelector(s)); return { fg: st.color, bg: st.backgroundColor, text: document.querySelector(s).textContent } }, stopBtn)
    eq(look.text, `Stop watching ${setup.owner}`, 'the button')
    assert(contrast(look.fg, look.bg) >= 4.5, `Stop watching is readable: ${JSON.stringify(look)}`)
    await shot(owner.page, 'share-sharer.png')
    await shot(bob.page, 'share-watcher.png')
    const before = await owner.page.evaluate(() => window.tandem.panels.share.share.state().me)
    console.log(JSON.stringify({ ready: true }))
    eq(await fromDriver(), 'done', 'driver')
    // After the restart: the owner shares again (a new peer id) and Bob, not following, watches it again.
    const after = await until(owner.page, old => { const s = window.tandem.panels.share.share.state(); return s.me && s.me !== old && s.sharing && s.mode && s.me }, before, { timeout: 40000, what: "the owner's share back" })
    eq(await bob.page.evaluate(() => window.tandem.following()), null, 'Bob is not following')
    await until(bob.page, id => window.tandem.panels.share.share.state().watching === id, after, { timeout: 40000, what: 'Bob watching the share again' })
    await playing(bob.page, '#screen', "the owner's share on Bob's page after the restart")
    await shot(bob.page, 'share-watcher-after-restart.png')
    return { before, after }
  }
}

run(scenarios, { args: FLAGS })
