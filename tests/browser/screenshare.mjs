// Screen-share scenarios in real Chromium against a real Tandem server:
//   node screenshare.mjs NAME BASE_URL   (the default, authenticated server; rooms through the UI)
// Chromium captures a fake screen (fake UI and devices flags); WebRTC stays on 127.0.0.1: pages run
// with --allow-loopback-in-peer-connection and advertise only their loopback ICE candidates (see
// loopbackOnly), and the server's relay offers only 127.0.0.1 (TANDEM_SCREENSHARE_HOST_ADDRESSES).
import path from 'node:path'
import { createInterface } from 'node:readline'
import { ARTIFACTS, assert, closeDialog, createLink, eq, joinLink, newSession, person, run, signUp, until } from './harness.mjs'

// getDisplayMedia without a picker, from Chromium's fake capturer (a moving test pattern).
const FLAGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection']
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36' }
const LIGHT_HEIGHT = 360 // the server's light_height (default)
const SHARE = '#panels [data-panel-body=share]'

const room = tag => `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

// The default, authenticated server: Alice signs up (or logs in) and starts a session through the
// UI; everyone else joins with an invite link of their role.
async function ownRoom (a, tag, { editor = false } = {}) {
  await signUp(a.page, a.name)
  return newSession(a.page, room(tag), { editor })
}

async function invite (owner, who, role, { editor = false } = {}) {
  const url = await createLink(owner.page, role)
  await closeDialog(owner.page)
  return joinLink(who.page, url, who.name, { editor })
}

const ISOLATED = process.env.TANDEM_TEST_LOOPBACK_NETNS === '1' // pytest runs us where only `lo` exists

/** In the page: the page's code sees only 127.0.0.1 ICE candidates, so peers never try another address.
 * `isolated`: Chromium calls a machine with only loopback offline; the page would say so, so it is told otherwise. */
function loopbackOnly (isolated) {
  if (isolated) Object.defineProperty(Navigator.prototype, 'onLine', { configurable: true, get: () => true })
  const Native = window.RTCPeerConnection
  window.RTCPeerConnection = class extends Native {
    set onicecandidate (fn) {
      super.onicecandidate = fn && (e => { if (!e.candidate || e.candidate.address === '127.0.0.1') fn.call(this, e) })
    }

    get onicecandidate () { return super.onicecandidate }
  }
}

/** A person whose page shares/receives on loopback only, and a log of what it sends on /signal. */
async function sharePerson (browser, base, opts) {
  const p = await person(browser, base, opts)
  await p.context.addInitScript(loopbackOnly, ISOLATED)
  p.sent = []
  p.received = []
  p.page.on('websocket', ws => {
    if (!ws.url().includes('/signal/')) return
    ws.on('framesent', f => p.sent.push(JSON.parse(f.payload)))
    ws.on('framereceived', f => p.received.push(JSON.parse(f.payload)))
  })
  return p
}

/** This page's signaling peer id (its `peers` welcome). */
const peerId = p => until(p.page, () => window.tandem.panels.share.share.state().me, null, { what: `${p.name}'s signaling id` })

async function startSharing (p) {
  await p.page.click('#panels [data-panel=share]')
  await p.page.click(`${SHARE} .share-toggle:text-is("Share your screen")`) // a real click: nothing covers it
  await p.page.waitForSelector(`${SHARE}[data-sharing=true] .share-toggle[aria-pressed=true]:text-is("Stop sharing")`)
}

/** Wait until the page's share video shows frames and keeps playing; its size and frame count. */
async function playing (page, what, timeout = 30000) {
  const first = await until(page, () => {
    const v = document.querySelector('#screen')
    return !v.hidden && v.videoWidth > 0 && { t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames }
  }, null, { timeout, what: `${what}: first frame` })
  return await until(page, f => {
    const v = document.querySelector('#screen')
    const frames = v.getVideoPlaybackQuality().totalVideoFrames
    return v.currentTime > f.t && frames >= f.frames + 5 && { width: v.videoWidth, height: v.videoHeight, frames }
  }, first, { timeout, what: `${what}: video playing` })
}

/** In a loopback-only network namespace (the pytest side says so), every nominated pair is 127.0.0.1. */
async function assertLoopback (page, who) {
  if (!ISOLATED) return 0
  const pairs = await until(page, async () => {
    const out = []
    for (const pc of window.tandem.panels.share.share.peerConnections()) {
      const stats = await pc.getStats()
      for (const s of stats.values()) {
        if (s.type !== 'candidate-pair' || s.state !== 'succeeded' || !s.nominated) continue
        out.push([stats.get(s.localCandidateId)?.address, stats.get(s.remoteCandidateId)?.address])
      }
    }
    return out.length > 0 && out
  }, null, { what: `${who}: a nominated ICE pair` })
  for (const [local, remote] of pairs) eq(`${local} -> ${remote}`, '127.0.0.1 -> 127.0.0.1', `${who}'s media path`)
  return pairs.length
}

/** Every ICE candidate the page signaled is a 127.0.0.1 one. */
function onlyLoopbackSignaled (p) {
  const other = p.sent.filter(m => m.type === 'candidate' && m.candidate && !/ 127\.0\.0\.1 /.test(m.candidate.candidate))
  eq(JSON.stringify(other), '[]', `${p.name}'s non-loopback candidates`)
}

/** One line from the test driving this scenario (stdin), e.g. after its aiortc viewer is done. */
function fromDriver () {
  const rl = createInterface({ input: process.stdin })
  return new Promise(resolve => rl.once('line', line => { rl.close(); process.stdin.destroy(); resolve(line) }))
}

const scenarios = {
  // The page's Share button -> /signal -> the relay; the pytest side subscribes an aiortc viewer.
  async relay (browser, base) {
    const a = await sharePerson(browser, base, { name: 'Alice', color: '#e5484d' })
    const name = await ownRoom(a, 'relay')
    // The driver's aiortc viewer connects with a viewer link made here, in the Invite dialog.
    const token = new URL(await createLink(a.page, 'viewer')).pathname.split('/').pop()
    await closeDialog(a.page)
    await startSharing(a)
    const id = await peerId(a)
    console.log(JSON.stringify({ ready: true, room: name, sharer: id, token }))
    const line = await fromDriver()
    assert(line === 'done', `driver said ${JSON.stringify(line)}`)
    await a.page.waitForSelector(`${SHARE}[data-mode=relay]`)
    const published = a.sent.find(m => m.type === 'offer' && m.to === 'relay' && m.stream === id)
    assert(published, 'the page published its share to the relay')
    onlyLoopbackSignaled(a)
    const pairs = await assertLoopback(a.page, 'Alice (publishing)')
    const bytesSent = await a.page.evaluate(async () => {
      let n = 0
      for (const pc of window.tandem.panels.share.share.peerConnections()) {
        for (const s of (await pc.getStats()).values()) if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.bytesSent
      }
      return n
    })
    assert(bytesSent > 0, 'the page sent video')
    return { loopbackPairs: pairs, bytesSent }
  },

  // The server restarts under a share: both pages reconnect by themselves, A shares again (a new
  // signaling id) and B, following A, watches it again.
  async restart (browser, base) {
    const a = await sharePerson(browser, base, { name: 'Alice', color: '#e5484d' })
    const b = await sharePerson(browser, base, { name: 'Bob', color: '#0090ff' })
    const name = await ownRoom(a, 'restart')
    await invite(a, b, 'editor')
    await b.page.click('#presence .person[data-name="Alice"] button.follow')
    await startSharing(a)
    const before = await peerId(a)
    await b.page.waitForSelector(`${SHARE}[data-watching="${before}"]`)
    await playing(b.page, "A's share on B")
    console.log(JSON.stringify({ ready: true, room: name, sharer: before, token: null }))
    const line = await fromDriver()
    assert(line === 'done', `driver said ${JSON.stringify(line)}`)
    const after = await until(a.page, old => {
      const s = window.tandem.panels.share.share.state()
      return s.me && s.me !== old && s.mode && s.me
    }, before, { timeout: 30000, what: "A's share back after the restart" })
    await until(b.page, id => window.tandem.following() !== null && window.tandem.panels.share.share.state().watching === id, after,
      { timeout: 30000, what: 'B still following A, and watching its share again' })
    await playing(b.page, "A's share on B after the restart")
    await a.page.waitForSelector(`${SHARE}[data-sharing=true] .share-toggle:text-is("Stop sharing")`)
    return { before, after }
  },

  // Two pages (mesh): presence shows the sharer, follow jumps to the share, video plays, stop ends it.
  async mesh (browser, base) {
    const a = await sharePerson(browser, base, { name: 'Alice', color: '#e5484d' })
    const b = await sharePerson(browser, base, { name: 'Bob', color: '#0090ff' })
    await ownRoom(a, 'mesh', { editor: true })
    await invite(a, b, 'editor', { editor: true })
    // B follows A before A shares.
    await b.page.click('#presence .person[data-name="Alice"] button.follow')
    await b.page.waitForSelector('#follow-banner:not([hidden])')
    await until(b.page, () => document.querySelector('#panels').dataset.open !== 'true', null, { what: 'panels closed before the share' })
    const t0 = Date.now()
    await startSharing(a)
    const aId = await peerId(a)
    // Presence (awareness `sharing`) on B, and follow opens A's share in B's panel.
    await b.page.waitForSelector('#presence .person[data-name="Alice"][data-sharing=true] .pshare')
    await b.page.waitForSelector('#panels[data-open=true] [data-panel=share][aria-selected=true]')
    await b.page.waitForSelector(`${SHARE}[data-watching="${aId}"]`)
    const video = await playing(b.page, "A's share on B")
    const firstVideoMs = Date.now() - t0
    // Mesh: B offered to A directly, nothing went through the relay; A answered with its track.
    const offers = b.sent.filter(m => m.type === 'offer')
    assert(offers.length > 0 && offers.every(m => m.to === aId && m.stream === aId), 'B offered to A directly: ' + JSON.stringify(offers.map(m => [m.to, m.stream])))
    eq(await a.page.$eval(SHARE, el => el.dataset.mode), 'mesh', "A's share mode")
    const bId = await peerId(b)
    assert(a.sent.some(m => m.type === 'answer' && m.to === bId), 'A answered B directly')
    // Names come through signaling too (stamped by the server from the account).
    await b.page.waitForSelector(`${SHARE} .share-list button[aria-pressed=true]:text-is("Stop watching Alice")`)
    const pairs = await assertLoopback(b.page, 'Bob (watching)')
    onlyLoopbackSignaled(a)
    onlyLoopbackSignaled(b)
    await b.page.locator('#panels').screenshot({ path: path.join(ARTIFACTS, 'screenshare-mesh.png') })
    // A stops: B's video goes away, and so does the sharing mark.
    await a.page.click(`${SHARE} .share-toggle:text-is("Stop sharing")`)
    await b.page.waitForSelector(`${SHARE}[data-watching=""] #screen[hidden]`, { state: 'attached' })
    await b.page.waitForSelector('#presence .person[data-name="Alice"][data-sharing=false]')
    eq(await b.page.evaluate(() => document.querySelector('#screen').srcObject), null, "B's video source after the stop")
    await a.page.waitForSelector(`${SHARE}[data-sharing=false] .share-toggle:text-is("Share your screen")`)
    eq(await a.page.evaluate(() => window.tandem.ctx.awareness.getLocalState().sharing), false, "A's awareness after the stop")
    return { firstVideoMs, width: video.width, height: video.height, loopbackPairs: pairs }
  },

  // Two people share at once and watch each other: two mesh connections between the same pages.
  async mutual (browser, base) {
    const a = await sharePerson(browser, base, { name: 'Alice', color: '#e5484d' })
    const b = await sharePerson(browser, base, { name: 'Bob', color: '#0090ff' })
    await ownRoom(a, 'mutual')
    await invite(a, b, 'editor')
    await startSharing(a)
    await startSharing(b)
    for (const [viewer, sharer] of [[a, b], [b, a]]) {
      const id = await peerId(sharer)
      await viewer.page.click(`${SHARE} .share-list button:text-is("Watch ${sharer.name}")`)
      await viewer.page.waitForSelector(`${SHARE}[data-watching="${id}"][data-mode=mesh]`, { state: 'attached' })
    }
    await playing(a.page, "B's share on A")
    await playing(b.page, "A's share on B")
    for (const p of [a, b]) {
      const states = await p.page.evaluate(() => window.tandem.panels.share.share.peerConnections().map(pc => pc.connectionState))
      eq(JSON.stringify(states), '["connected","connected"]', `${p.name}'s connections (sharing, watching)`)
    }
  },

  // A phone-sized viewer watches through the relay's light tier, by default.
  async phone (browser, base) {
    const a = await sharePerson(browser, base, { name: 'Alice', color: '#e5484d' })
    await ownRoom(a, 'phone')
    const viewerLink = await createLink(a.page, 'viewer')
    await closeDialog(a.page)
    await startSharing(a)
    const aId = await peerId(a)
    const phone = await sharePerson(browser, base, { name: 'Pat', color: '#46a758', device: PHONE })
    const p = phone.page
    await joinLink(p, viewerLink, phone.name, { editor: false })
    // People pane: Alice is sharing; tapping it opens the Screen pane on her share.
    await p.tap('.phone-nav [data-pane=people]')
    await p.tap('#people .person[data-name="Alice"][data-sharing=true] .pshare')
    await p.waitForSelector('body[data-pane=screen] #panels [data-panel-body=share]:not([hidden])')
    eq(await p.isVisible('#panels .share-toggle'), false, 'a Share button on the viewer phone')
    const video = await playing(p, "A's share on the phone")
    // The page asked for the light tier, and the share moved to the relay for it.
    const watch = phone.sent.find(m => m.type === 'watch' && m.to === aId)
    eq(watch?.light, true, 'the phone asked for the light tier')
    const offer = phone.sent.find(m => m.type === 'offer')
    eq(JSON.stringify(offer && [offer.to, offer.stream, offer.light]), JSON.stringify(['relay', aId, true]), 'the phone subscribed to the relay, light')
    await a.page.waitForSelector(`${SHARE}[data-mode=relay]`)
    // The relay's light tier is LIGHT_HEIGHT high; A's own capture is larger.
    eq(video.height, LIGHT_HEIGHT, 'light tier height on the phone')
    const captured = await a.page.evaluate(() => window.tandem.panels.share.share.peerConnections()
      .flatMap(pc => pc.getSenders()).map(s => s.track?.getSettings().height).find(Boolean))
    assert(captured > LIGHT_HEIGHT, `A's capture is taller than the light tier: ${captured}`)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    const viewers = Number(/^tandem_relay_viewers (\S+)$/m.exec(metrics)?.[1])
    assert(viewers >= 1, `the relay serves the phone (tandem_relay_viewers ${viewers})`)
    await assertLoopback(p, 'Pat (phone)')
    onlyLoopbackSignaled(phone)
    await p.screenshot({ path: path.join(ARTIFACTS, 'screenshare-phone.png') })
    return { width: video.width, height: video.height, captured }
  },

  // A viewer-role page has no Share button, yet watches; the server knows it as a viewer.
  async viewer (browser, base) {
    const a = await sharePerson(browser, base, { name: 'Alice', color: '#e5484d' })
    await ownRoom(a, 'viewer')
    const viewerLink = await createLink(a.page, 'viewer')
    await closeDialog(a.page)
    await startSharing(a)
    const v = await sharePerson(browser, base, { name: 'Vera', color: '#46a758' })
    await joinLink(v.page, viewerLink, v.name, { editor: false })
    await v.page.click('#panels [data-panel=share]')
    await v.page.waitForSelector(`${SHARE} .share-list button:text-is("Watch Alice")`)
    eq(await v.page.isVisible(`${SHARE} .share-toggle`), false, "a Share button on the viewer's page")
    const welcome = v.received.find(m => m.type === 'peers')
    eq(welcome?.you?.role, 'viewer', "the viewer's signaling role")
    eq(welcome?.you?.name, 'Vera', "the viewer's signaling name")
    await v.page.click(`${SHARE} .share-list button:text-is("Watch Alice")`)
    await playing(v.page, "A's share on the viewer's page")
    eq(v.sent.filter(m => m.type === 'share').length, 0, 'share messages from the viewer')
  }
}

run(scenarios, { args: FLAGS })
