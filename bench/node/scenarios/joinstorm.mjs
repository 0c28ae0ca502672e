// joinstorm: for each try, a NEW room; --clients clients connect at once, each writes one
// marker once synced. A client is "stranded" when within --deadline it did not get the
// server's sync step 2, or did not receive every other synced client's marker.
import { phase, num, round } from '../../../tests/node/lib/cli.mjs'
import { RawClient, roomUrl, closeAll } from '../lib/raw.mjs'
import { summary, tally } from '../lib/stats.mjs'

export const timeoutFor = (v) => 30 + Number(v.tries ?? 10) * (Number(v.deadline ?? 5) + 3)

const marker = (i) => `<${i}>`

const oneTry = (base, room, token, count, deadlineMs) => new Promise((resolve) => {
  const clients = Array.from({ length: count }, (_, i) => new RawClient(roomUrl(base, room, token), { name: `c${i}` }))
  const texts = clients.map((c) => c.doc.getText('t'))
  let finished = false
  const converged = (i) => {
    const s = texts[i].toString()
    return clients.every((c, j) => !c.synced || s.includes(marker(j)))
  }
  const check = () => {
    if (finished) return
    if (clients.every((c, i) => c.synced && converged(i))) finish()
  }
  const finish = () => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    const notSynced = clients.filter((c) => !c.synced)
    const notConverged = clients.filter((c, i) => c.synced && !converged(i))
    resolve({
      clients,
      not_synced: notSynced.length,
      not_converged: notConverged.length,
      stranded: notSynced.length + notConverged.length,
      reasons: tally([...notSynced.map((c) => c.describe()), ...notConverged.map(() => 'missing markers')]),
      sync_ms: clients.filter((c) => c.synced).map((c) => c.syncedAt - c.startedAt)
    })
  }
  const timer = setTimeout(finish, deadlineMs)
  clients.forEach((c, i) => {
    c.once('synced', () => { c.doc.transact(() => texts[i].insert(texts[i].length, marker(i))); check() })
    c.on('message', check)
    c.on('close', check)
  })
  // all at once: every socket is opened in the same tick
  for (const c of clients) c.start()
})

export const run = async (v) => {
  const count = num(v, 'clients', { min: 1, max: 1000 })
  const tries = num(v, 'tries', { min: 1, max: 1000 })
  const deadlineMs = num(v, 'deadline', { min: 0.1, max: 120, integer: false }) * 1000
  const prefix = v.room ?? `joinstorm-${process.pid}-${Date.now().toString(36)}`
  const perTry = []
  const syncSamples = []
  for (let t = 0; t < tries; t++) {
    phase(`try ${t}`)
    const room = `${prefix}-${t}-${Math.random().toString(36).slice(2, 8)}`
    const r = await oneTry(v.url, room, v.token, count, deadlineMs)
    syncSamples.push(...r.sync_ms)
    perTry.push({ room, not_synced: r.not_synced, not_converged: r.not_converged, stranded: r.stranded, reasons: r.reasons })
    await closeAll(r.clients)
  }
  return {
    scenario: 'joinstorm',
    clients: count,
    tries,
    deadline_s: round(deadlineMs / 1000),
    stranded_per_try: perTry.map((p) => p.stranded),
    stranded_total: perTry.reduce((s, p) => s + p.stranded, 0),
    not_synced_total: perTry.reduce((s, p) => s + p.not_synced, 0),
    not_converged_total: perTry.reduce((s, p) => s + p.not_converged, 0),
    sync_ms: summary(syncSamples),
    tries_detail: perTry.filter((p) => p.stranded > 0)
  }
}

export const passed = (r) => r.stranded_total === 0
