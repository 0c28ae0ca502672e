#!/usr/bin/env node
// apply_pieces.mjs — the official Yjs applies cut updates (tests/test_updatesplit.py).
// stdin: [{pieces: [base64...]}...]; stdout: [{files: {path: text}, sv: base64, pending: bool}...]
import * as Y from 'yjs'

let input = ''
for await (const chunk of process.stdin) input += chunk
const out = JSON.parse(input).map(({ pieces }) => {
  const doc = new Y.Doc()
  for (const piece of pieces) Y.applyUpdate(doc, Buffer.from(piece, 'base64'))
  const files = {}
  for (const [path, value] of doc.getMap('files').entries()) files[path] = value.toString()
  return {
    files,
    sv: Buffer.from(Y.encodeStateVector(doc)).toString('base64'),
    pending: doc.store.pendingStructs !== null || doc.store.pendingDs !== null
  }
})
process.stdout.write(JSON.stringify(out))
