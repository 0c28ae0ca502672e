// The page's "Saved" rule (web/src/room/connection.js saveState) against hand-made server
// announcements; prints one JSON object of outcomes for tests/test_durable_deletes.py.
const Y = await import(new URL('../../web/node_modules/yjs/dist/yjs.mjs', import.meta.url))
const { toBase64 } = await import(new URL('../../web/node_modules/lib0/buffer.js', import.meta.url))
const { deleteSetDigest, saveState, trackDeletions } = await import(new URL('../../web/src/room/connection.js', import.meta.url))

const doc = new Y.Doc()
trackDeletions(doc)
const text = doc.getText('t')
text.insert(0, 'hello world')
const awareness = states => ({ getStates: () => new Map(states.map((s, i) => [i + 1, s])) })
const server = (extra = {}) => ({ tandem: { durable: toBase64(Y.encodeStateVector(doc)), deletes: deleteSetDigest(doc), node: 'n', ...extra } })
const behind = { tandem: { durable: toBase64(Y.encodeStateVector(new Y.Doc())), deletes: '', node: 'n' } }
const out = {}
out.covered = saveState(doc, awareness([server(), { user: { name: 'x' } }]))
out.behind = saveState(doc, awareness([behind]))
out.twoAnnouncements = saveState(doc, awareness([server(), server({ node: 'forged' })]))
out.none = saveState(doc, awareness([{ user: { name: 'x' } }]))
const before = server()
text.delete(0, 6) // a pure deletion: the state vector does not move
out.deletionNotYetDurable = saveState(doc, awareness([before]))
out.deletionDurable = saveState(doc, awareness([server()]))
process.stdout.write(JSON.stringify(out))
