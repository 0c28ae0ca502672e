// Opening many RawClients with bounded concurrency and a per-client handshake deadline.

/**
 * Start `clients` (RawClient, not yet started) with at most `concurrency` handshakes in
 * flight. A client settles when it is synced, closed, or `deadlineMs` passed since its
 * start. Resolves with {ok, failed} arrays once every client settled; a failed client
 * gets `failure` set ("handshake timeout", "closed 1006", "error ...").
 */
export const openAll = (clients, { concurrency = 100, deadlineMs = 10_000 } = {}) => new Promise((resolve) => {
  const ok = []
  const failed = []
  let next = 0
  let inflight = 0
  if (clients.length === 0) { resolve({ ok, failed }); return }
  const settle = (c, failure) => {
    if (c.settled) return
    c.settled = true
    clearTimeout(c.deadlineTimer)
    c.off('synced', c.onPoolSynced)
    c.off('close', c.onPoolClose)
    if (failure) { c.failure = failure; failed.push(c) } else ok.push(c)
    inflight--
    launch()
    if (ok.length + failed.length === clients.length) resolve({ ok, failed })
  }
  const launch = () => {
    while (inflight < concurrency && next < clients.length) {
      const c = clients[next++]
      inflight++
      c.onPoolSynced = () => settle(c, null)
      c.onPoolClose = () => settle(c, c.describe())
      c.on('synced', c.onPoolSynced)
      c.on('close', c.onPoolClose)
      c.deadlineTimer = setTimeout(() => settle(c, `handshake timeout (${c.describe()})`), deadlineMs)
      c.start()
    }
  }
  launch()
})

/** Resolve after `ms` (used only to hold a steady state, never to synchronize). */
export const hold = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
