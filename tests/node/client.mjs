#!/usr/bin/env node
// client.mjs — single-scenario interop checks with the official y-websocket client.
//
// Usage: node client.mjs SUBCOMMAND --url ws://127.0.0.1:PORT/yjs --room NAME [--token T] [--timeout 30] [options]
//
//   write --text S [--at I]     insert S into Y.Text `t` (default: at the end), wait until synced
//                               and until a fresh probe client sees the writer's whole state
//                               -> {length, sha256, sv_base64, client_id, confirm_ms}
//   read --expect-length N [--expect-sha256 H]
//                               wait until `t` has at least N UTF-16 units (and the hash, if given)
//                               -> {text, length, sha256, wait_ms}
//   paste [--bytes 2000000]     client A pastes one block of exactly BYTES UTF-8 bytes into `t` in
//                               one transaction; client B (connected before) must see the same
//                               text, then a fresh client C must sync it
//                               -> {bytes, utf16_length, sha256, paste_to_b_ms, fresh_sync_ms}
//   files [--from src/a.py] [--to src/b.py] [--content S]
//                               A creates files[from] = Y.Text(content); B sees it; A "renames" it
//                               (new key with the same content + delete old key, one transaction);
//                               B must see only `to` with the content, never an intermediate state
//                               -> {keys_seen_by_b, content_ok, atomic, create_ms, rename_ms}
//   awareness [--name A] [--expect-name NAME] [--leave null|disconnect|drop] [--url-b URL]
//                               A sets awareness {user:{name}}; B sees it; A leaves (null state,
//                               provider.disconnect(), or an abrupt socket drop); B sees the removal
//                               -> {seen_ms, removed_ms, seen_state, leave}
//
// The room name is appended to --url verbatim (pass `a%2Fb` for the room `a/b`).
// Exactly one JSON line on stdout; {"ok":false,...} and a non-zero exit on failure.
import { runMain, phase, remainingMs, num, sha256, round, UsageError, ScenarioError } from './lib/cli.mjs'
import { connect, waitSynced, waitClients, confirmServerHas, Y } from './lib/yclient.mjs'

const USAGE = `usage: node client.mjs write|read|paste|files|awareness --url ws://HOST:PORT/yjs --room NAME [--token T] [--timeout 30]
  write --text S [--at I]
  read --expect-length N [--expect-sha256 HEX]
  paste [--bytes 2000000]
  files [--from src/a.py] [--to src/b.py] [--content S]
  awareness [--name A] [--expect-name NAME] [--leave null|disconnect|drop]`

const b64 = (u8) => Buffer.from(u8).toString('base64')

const write = async (v) => {
  if (v.text === undefined) throw new UsageError('write needs --text S')
  const c = connect(v.url, v.room, { token: v.token, name: 'writer' })
  phase('sync')
  await waitSynced([c], remainingMs())
  phase('insert')
  const t = c.doc.getText('t')
  const at = v.at === undefined ? t.length : num(v, 'at', { min: 0, max: t.length })
  c.doc.transact(() => t.insert(at, v.text))
  phase('confirm')
  // the provider stays connected while a fresh probe proves the server has our state
  const confirmMs = await confirmServerHas(v.url, v.room, c.doc, { token: v.token, timeoutMs: remainingMs() })
  const s = t.toString()
  return {
    length: t.length, sha256: sha256(s), sv_base64: b64(Y.encodeStateVector(c.doc)),
    client_id: c.doc.clientID, synced: c.provider.synced, buffered_amount: c.provider.ws?.bufferedAmount ?? null,
    confirm_ms: round(confirmMs)
  }
}

const read = async (v) => {
  if (v['expect-length'] === undefined) throw new UsageError('read needs --expect-length N')
  const n = num(v, 'expect-length', { min: 0 })
  const c = connect(v.url, v.room, { token: v.token, name: 'reader' })
  phase('sync')
  await waitSynced([c], remainingMs())
  phase('wait-length')
  const t0 = performance.now()
  const t = c.doc.getText('t')
  const want = v['expect-sha256']
  await waitClients(`text length >= ${n}${want ? ' and sha256 ' + want : ''}`, [c],
    () => t.length >= n && (!want || sha256(t.toString()) === want), remainingMs())
    .catch((err) => { throw new ScenarioError(err.message, { length: t.length, sha256: sha256(t.toString()) }) })
  const s = t.toString()
  return { text: s, length: t.length, sha256: sha256(s), wait_ms: round(performance.now() - t0) }
}

/** Exactly `bytes` UTF-8 bytes of code-like text with some Hangul and emoji lines. */
const makePaste = (bytes) => {
  const parts = []
  let total = 0
  for (let i = 0; ; i++) {
    const line = i % 50 === 49 ? `# 한국어 주석 ${i} 🦀👩‍💻\n` : `    value_${i} = compute(${i}, "abcdefghij") + ${i * 7}\n`
    const lb = Buffer.byteLength(line)
    if (total + lb > bytes) break
    parts.push(line)
    total += lb
  }
  parts.push('x'.repeat(bytes - total))
  return parts.join('')
}

const paste = async (v) => {
  const bytes = num(v, 'bytes', { min: 1, max: 64 * 1024 * 1024 })
  const a = connect(v.url, v.room, { token: v.token, name: 'A' })
  const b = connect(v.url, v.room, { token: v.token, name: 'B' })
  phase('sync')
  await waitSynced([a, b], remainingMs())
  const block = makePaste(bytes)
  const ta = a.doc.getText('t')
  const tb = b.doc.getText('t')
  phase('paste')
  const t0 = performance.now()
  a.doc.transact(() => ta.insert(ta.length, block))
  const expected = ta.toString()
  const expectedSha = sha256(expected)
  phase('B-receives')
  await waitClients('B to receive the paste', [a, b], () => tb.length === expected.length && tb.toString() === expected, remainingMs())
    .catch((err) => { throw new ScenarioError(err.message, { b_length: tb.length, expected_length: expected.length }) })
  const tB = performance.now()
  phase('fresh-client')
  const c = connect(v.url, v.room, { token: v.token, name: 'C' })
  const tc = c.doc.getText('t')
  await waitSynced([c], remainingMs())
  await waitClients('fresh client C to hold the paste', [c], () => tc.length === expected.length, remainingMs())
  if (sha256(tc.toString()) !== expectedSha) throw new ScenarioError('fresh client C has different text', { c_length: tc.length })
  return {
    bytes, utf16_length: block.length, total_length: expected.length, sha256: expectedSha,
    update_bytes: Y.encodeStateAsUpdate(a.doc).length,
    paste_to_b_ms: round(tB - t0), fresh_sync_ms: round(performance.now() - tB)
  }
}

const files = async (v) => {
  const from = v.from ?? 'src/a.py'
  const to = v.to ?? 'src/b.py'
  if (from === to) throw new UsageError('--from and --to must differ')
  const content = v.content ?? 'def greet(name):\n    return f"안녕하세요 {name} 🦀👩‍💻"\n'
  const a = connect(v.url, v.room, { token: v.token, name: 'A' })
  const b = connect(v.url, v.room, { token: v.token, name: 'B' })
  phase('sync')
  await waitSynced([a, b], remainingMs())
  const fa = a.doc.getMap('files')
  const fb = b.doc.getMap('files')
  const textOf = (m, k) => { const x = m.get(k); return x instanceof Y.Text ? x.toString() : undefined }

  phase('create')
  let t0 = performance.now()
  a.doc.transact(() => fa.set(from, new Y.Text(content)))
  await waitClients(`B to see ${from}`, [a, b], () => textOf(fb, from) === content, remainingMs())
  const createMs = performance.now() - t0

  // From here on, B must only ever observe "old key only" or "new key only".
  const intermediate = []
  const watch = () => {
    const hasFrom = fb.has(from)
    const hasTo = fb.has(to)
    if (hasFrom === hasTo) intermediate.push([...fb.keys()].sort())
  }
  fb.observeDeep(watch)

  phase('rename')
  t0 = performance.now()
  a.doc.transact(() => {
    fa.set(to, new Y.Text(fa.get(from).toString()))
    fa.delete(from)
  })
  await waitClients(`B to see only ${to}`, [a, b], () => !fb.has(from) && textOf(fb, to) === content, remainingMs())
    .catch((err) => { throw new ScenarioError(err.message, { keys_seen_by_b: [...fb.keys()].sort() }) })
  const renameMs = performance.now() - t0
  fb.unobserveDeep(watch)
  const keys = [...fb.keys()].sort()
  if (intermediate.length) {
    throw new ScenarioError('B observed an intermediate state of the rename (both or neither key)', { intermediate, keys_seen_by_b: keys })
  }
  return {
    keys_seen_by_b: keys, content_ok: textOf(fb, to) === content, atomic: true,
    create_ms: round(createMs), rename_ms: round(renameMs)
  }
}

const awareness = async (v) => {
  const name = v.name ?? 'A'
  const leave = v.leave ?? 'null'
  if (!['null', 'disconnect', 'drop'].includes(leave)) throw new UsageError('--leave must be null, disconnect or drop')
  const a = connect(v.url, v.room, { token: v.token, name: 'A' })
  const b = connect(v['url-b'] ?? v.url, v.room, { token: v.token, name: 'B' }) // --url-b: another node
  phase('sync')
  await waitSynced([a, b], remainingMs())
  const aid = a.doc.clientID
  const aw = b.provider.awareness
  const sources = [[aw, 'change']]

  phase('set-state')
  let t0 = performance.now()
  a.provider.awareness.setLocalState({ user: { name } })
  const want = v['expect-name']
  await waitClients(`B to see A's awareness state (clientID ${aid})`, [a, b], () => {
    const st = aw.getStates().get(aid)
    return st?.user && (!want || st.user.name === want)
  }, remainingMs(), sources)
    .catch((err) => { throw new ScenarioError(err.message, { b_states: Object.fromEntries(aw.getStates()) }) })
  const seenMs = performance.now() - t0
  const seenState = aw.getStates().get(aid)

  phase(`leave-${leave}`)
  t0 = performance.now()
  if (leave === 'null') a.provider.awareness.setLocalState(null)
  else if (leave === 'disconnect') a.provider.disconnect()
  else { a.provider.shouldConnect = false; a.provider.ws?.terminate() }
  await waitClients(`B to see A's awareness removed (leave=${leave})`, [b], () => !aw.getStates().has(aid), remainingMs(), sources)
  return { seen_ms: round(seenMs), removed_ms: round(performance.now() - t0), seen_state: seenState, leave, client_id: aid }
}

const COMMANDS = { write, read, paste, files, awareness }

runMain(USAGE, {
  text: { type: 'string' },
  at: { type: 'string' },
  'expect-length': { type: 'string' },
  'expect-sha256': { type: 'string' },
  bytes: { type: 'string', default: '2000000' },
  from: { type: 'string' },
  to: { type: 'string' },
  content: { type: 'string' },
  name: { type: 'string' },
  'expect-name': { type: 'string' },
  leave: { type: 'string' },
  'url-b': { type: 'string' }
}, async (v, positionals) => {
  const cmd = positionals[0]
  if (positionals.length !== 1 || !COMMANDS[cmd]) throw new UsageError(`expected one subcommand of ${Object.keys(COMMANDS).join('|')}, got ${positionals.join(' ') || 'none'}`)
  phase(cmd)
  return { command: cmd, ...(await COMMANDS[cmd](v)) }
}, { allowPositionals: true })
