#!/usr/bin/env node
// split_js.mjs — the page's update cutter (web/src/lib/updatesplit.js) on updates from stdin
// (tests/test_updatesplit.py). stdin: {max_bytes, updates: [base64...]}; stdout: [[base64 piece...]...]
import { splitUpdate } from '../../web/src/lib/updatesplit.js'

let input = ''
for await (const chunk of process.stdin) input += chunk
const { max_bytes: maxBytes, updates } = JSON.parse(input)
const out = updates.map(u => splitUpdate(new Uint8Array(Buffer.from(u, 'base64')), maxBytes).map(p => Buffer.from(p).toString('base64')))
process.stdout.write(JSON.stringify(out))
