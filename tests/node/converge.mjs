#!/usr/bin/env node
// converge.mjs — N official y-websocket clients in one process (separate Y.Docs and
// providers) make M random concurrent inserts/deletes each on the shared Y.Text `t`
// (ASCII, emoji with surrogate pairs and ZWJ sequences, Korean), then wait until every
// doc has the same state vector and the same text.
//
// Usage:
//   node converge.mjs --url ws://127.0.0.1:PORT/yjs --room NAME
//        [--clients 5] [--edits 200] [--seed N] [--token T] [--timeout 30] [--spread URL2,URL3]
// Prints one JSON line:
//   {"ok":true,"text_sha256":"…","length":N,"code_points":N,"well_formed":true,
//    "state_vectors_equal":true,"clients":5,"edits_per_client":200,"seed":N,
//    "sync_ms":…,"edit_ms":…,"converge_ms":…,"elapsed_ms":…}
import * as prng from 'lib0/prng'
import { runMain, phase, remainingMs, num, sha256, round, ScenarioError } from './lib/cli.mjs'
import { connect, waitSynced, waitClients, Y } from './lib/yclient.mjs'

const USAGE = `usage: node converge.mjs --url ws://HOST:PORT/yjs --room NAME [--clients 5] [--edits 200] [--seed N] [--token T] [--timeout 30]`

// Pieces mixed into the text: surrogate pairs, a ZWJ sequence, Hangul, newlines, code.
const PIECES = ['a', 'b', 'xyz', ' ', '\n', 'def f():\n    return 1\n', '🦀', '👩‍💻', '🦀👩‍💻', '한국어', '한', '글', 'é', '🎉x']

const isHigh = (c) => c >= 0xd800 && c <= 0xdbff
const isLow = (c) => c >= 0xdc00 && c <= 0xdfff

/** Snap a UTF-16 index back to a code point boundary of `s` (never split a surrogate pair). */
const snap = (s, i) => (i > 0 && i < s.length && isHigh(s.charCodeAt(i - 1)) && isLow(s.charCodeAt(i)) ? i - 1 : i)

/** Length in UTF-16 units of `n` code points of `s` starting at `i`. */
const spanOfCodePoints = (s, i, n) => {
  let j = i
  for (let k = 0; k < n && j < s.length; k++) j += isHigh(s.charCodeAt(j)) && isLow(s.charCodeAt(j + 1)) ? 2 : 1
  return j - i
}

/** One random local edit on `text`, at code point boundaries, as its own transaction. */
const randomEdit = (gen, doc, text) => {
  const s = text.toString()
  doc.transact(() => {
    if (s.length === 0 || prng.real53(gen) < 0.65) {
      text.insert(snap(s, prng.int32(gen, 0, s.length)), prng.oneOf(gen, PIECES))
    } else {
      const at = snap(s, prng.int32(gen, 0, s.length - 1))
      const len = spanOfCodePoints(s, at, prng.int32(gen, 1, 3))
      if (len > 0) text.delete(at, len)
    }
  })
}

const svBytesEqual = (docs) => {
  const first = Buffer.from(Y.encodeStateVector(docs[0]))
  return docs.every((d) => first.equals(Buffer.from(Y.encodeStateVector(d))))
}

runMain(USAGE, {
  clients: { type: 'string', default: '5' },
  edits: { type: 'string', default: '200' },
  spread: { type: 'string' },
  seed: { type: 'string' }
}, async (v) => {
  const n = num(v, 'clients', { min: 1, max: 200 })
  const m = num(v, 'edits', { min: 0, max: 1_000_000 })
  const seed = v.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : num(v, 'seed', { min: 0 })
  const gen = prng.create(seed)

  phase('connect')
  const t0 = performance.now()
  // --spread URL2,URL3: client i connects to [--url, ...spread][i % k] (several server nodes, one room).
  const urls = [v.url, ...(v.spread ? v.spread.split(',') : [])]
  const clients = Array.from({ length: n }, (_, i) => connect(urls[i % urls.length], v.room, { token: v.token, name: `client${i}` }))
  await waitSynced(clients, remainingMs())
  const tSynced = performance.now()

  phase('edit')
  // Round-robin over clients; yield to the event loop at random points so that each
  // client's edits cross other clients' in-flight updates (true concurrency).
  const texts = clients.map((c) => c.doc.getText('t'))
  for (let e = 0; e < m; e++) {
    for (let i = 0; i < n; i++) randomEdit(gen, clients[i].doc, texts[i])
    if (prng.real53(gen) < 0.3) await new Promise((resolve) => setImmediate(resolve))
  }
  const tEdited = performance.now()

  phase('converge')
  const docs = clients.map((c) => c.doc)
  const converged = () => svBytesEqual(docs) && texts.every((t) => t.toString() === texts[0].toString())
  await waitClients('all docs to converge', clients, converged, remainingMs())
    .catch((err) => {
      throw new ScenarioError(err.message, {
        state_vectors: clients.map((c) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(c.doc)))),
        lengths: texts.map((t) => t.length), seed
      })
    })
  const tConverged = performance.now()

  const text = texts[0].toString()
  return {
    text_sha256: sha256(text),
    length: texts[0].length,
    code_points: [...text].length,
    well_formed: text.isWellFormed(),
    state_vectors_equal: svBytesEqual(docs),
    clients: n,
    edits_per_client: m,
    seed,
    sync_ms: round(tSynced - t0),
    edit_ms: round(tEdited - tSynced),
    converge_ms: round(tConverged - tEdited)
  }
})
