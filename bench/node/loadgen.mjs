#!/usr/bin/env node
// loadgen.mjs — load generator for y-websocket servers (Tandem's /yjs/{room}, or the
// reference @y/websocket-server), speaking y-protocols directly over `ws`.
//
// Setup: npm ci --prefix tests/node   (this script imports the packages pinned there)
//
// Usage: node bench/node/loadgen.mjs SCENARIO --url ws://127.0.0.1:PORT/yjs [--room NAME|PREFIX]
//                                    [--token T] [--timeout SECONDS] [scenario options]
// Targets must be loopback (127.0.0.0/8, localhost, [::1]); every loop is bounded in count and time.
//
//   fanout --writers 2 --readers 20 --rate 100 --seconds 10 [--drain 5] [--reader-url URL]
//       W writers insert unique markers "[w.seq]" into Y.Text `t` at RATE edits/s in total,
//       one transaction per edit; R readers match Y.Text delta inserts to send times.
//       -> {sent, expected, delivered, missing, latency_ms:{n,p50,p90,p99,max,mean},
//           rate_achieved, send_lag_max_ms, client_loop_delay_p99_ms, closed_during_run}
//   idle --clients 1000 --rooms 10 [--hold 5] [--concurrency 200] [--handshake-timeout 10]
//       C clients over N rooms (PREFIX-0 .. PREFIX-{N-1}); each completes the sync handshake
//       (socket open request -> server's sync step 2) and sets an awareness state; all are
//       held for --hold seconds. C <= 5000; checks `ulimit -n` first.
//       -> {synced, failures, failure_reasons, handshake_ms:{…}, dropped_during_hold,
//           awareness_messages_received, open_all_ms, client_rss_mb}
//   joinstorm --clients 20 --tries 10 [--deadline 5]
//       Per try a NEW room; all clients connect in the same tick and each writes a marker
//       once synced. Stranded = no sync step 2, or missing another synced client's marker,
//       within --deadline seconds.
//       -> {stranded_per_try:[…], stranded_total, not_synced_total, not_converged_total,
//           sync_ms:{…}, tries_detail:[only tries with stranded clients]}
//   history --edits 260000 [--fresh 3] [--pattern append|random]
//       One writer sends N single-character edits as N update messages (pipelined,
//       backpressure on ws.bufferedAmount); a verifier waits for length N on the server;
//       then --fresh new clients each time connect -> synced with length N.
//       -> {write_ms, edits_per_s, server_confirm_ms, doc_bytes, sync_step2_bytes,
//           fresh_sync_ms:{…}, fresh_runs:[{sync_ms, connect_ms, first_step2_ms, apply_ms, step2_bytes}]}
//
// Output: one JSON line on stdout, {"ok":true,"scenario":…,…}. Exit 1 with "ok":false
// (numbers still included) when the scenario saw a correctness failure: missing fanout
// deliveries or closed clients, idle handshake failures or drops, stranded joinstorm
// clients, history timeouts. Exit 2 on usage errors.
import { runMain, phase, UsageError, ScenarioError } from '../../tests/node/lib/cli.mjs'
import { assertLoopback } from './lib/raw.mjs'
import * as fanout from './scenarios/fanout.mjs'
import * as idle from './scenarios/idle.mjs'
import * as joinstorm from './scenarios/joinstorm.mjs'
import * as history from './scenarios/history.mjs'

const SCENARIOS = { fanout, idle, joinstorm, history }

const USAGE = `usage: node loadgen.mjs fanout|idle|joinstorm|history --url ws://127.0.0.1:PORT/yjs [--room NAME] [--token T] [--timeout S]
  fanout    --writers 2 --readers 20 --rate 100 --seconds 10 [--drain 5] [--reader-url URL]
  idle      --clients 1000 --rooms 10 [--hold 5] [--concurrency 200] [--handshake-timeout 10]
  joinstorm --clients 20 --tries 10 [--deadline 5]
  history   --edits 260000 [--fresh 3] [--pattern append|random]`

const DEFAULTS = {
  fanout: { writers: '2', readers: '20', rate: '100', seconds: '10', drain: '5' },
  idle: { clients: '1000', rooms: '10', hold: '5', concurrency: '200', 'handshake-timeout': '10' },
  joinstorm: { clients: '20', tries: '10', deadline: '5' },
  history: { edits: '260000', fresh: '3' }
}

const OPTIONS = Object.fromEntries(
  ['writers', 'readers', 'rate', 'seconds', 'drain', 'clients', 'rooms', 'hold', 'concurrency',
    'handshake-timeout', 'tries', 'deadline', 'edits', 'fresh', 'pattern', 'reader-url'].map((k) => [k, { type: 'string' }]))

const scenarioOf = (positionals) => {
  const name = positionals[0]
  if (positionals.length !== 1 || !SCENARIOS[name]) {
    throw new UsageError(`expected one scenario of ${Object.keys(SCENARIOS).join('|')}, got ${positionals.join(' ') || 'none'}`)
  }
  return name
}

const withDefaults = (name, v) => {
  const out = { ...v }
  for (const [k, d] of Object.entries(DEFAULTS[name])) if (out[k] === undefined) out[k] = d
  return out
}

runMain(USAGE, OPTIONS, async (values, positionals) => {
  const name = scenarioOf(positionals)
  const v = withDefaults(name, values)
  try {
    assertLoopback(v.url)
  } catch (err) {
    throw new UsageError(err.message)
  }
  phase(name)
  const result = await SCENARIOS[name].run(v)
  phase('verdict')
  if (!SCENARIOS[name].passed(result)) {
    const { ok: _ok, ...fields } = result
    throw new ScenarioError(`${name}: correctness failure (see counts)`, fields)
  }
  return result
}, {
  requireRoom: false,
  allowPositionals: true,
  defaultTimeout: (values, positionals) => {
    const name = positionals[0]
    return SCENARIOS[name] ? Math.ceil(SCENARIOS[name].timeoutFor(withDefaults(name, values))) : 30
  }
})
