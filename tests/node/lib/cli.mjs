// Shared CLI plumbing for the interop scripts: argument parsing, the one-JSON-line
// result contract, a global deadline and event-driven waits with deadlines.
//
// Contract of every script: exactly one JSON line on stdout. Success: {"ok": true, ...}
// and exit 0. Failure: {"ok": false, "error": "...", "phase": "...", ...} and exit 1
// (2 for a usage error); the same message goes to stderr for humans.
import { parseArgs } from 'node:util'
import { createHash } from 'node:crypto'

export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** Raised for failures that carry extra JSON fields (close codes, counts, ...). */
export class ScenarioError extends Error {
  constructor (message, fields = {}) {
    super(message)
    this.name = 'ScenarioError'
    this.fields = fields
  }
}

export class UsageError extends Error {
  constructor (message) {
    super(message)
    this.name = 'UsageError'
  }
}

const state = { phase: 'init', started: performance.now(), deadline: Infinity, cleanups: [], done: false }

/** Name what the script is doing now, so a timeout says where it was stuck. */
export const phase = (name) => {
  state.phase = name
  // The benchmark runner samples the server's CPU at phase boundaries.
  if (process.env.LOADGEN_PHASES) process.stderr.write(`@phase ${name}\n`)
}

/** Milliseconds since the script started. */
export const elapsedMs = () => performance.now() - state.started

/**
 * Time left before the global --timeout, less a small margin so that a wait's own,
 * more specific timeout message fires before the global one. Capped by `capMs`.
 */
export const remainingMs = (capMs = Infinity) =>
  Math.max(1, Math.min(capMs, state.deadline - performance.now() - 250))

/** Register a function run (best effort) before the process exits. */
export const onCleanup = (fn) => { state.cleanups.push(fn) }

export const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex')

export const round = (x, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

/** Common options: --url, --room, --token, --timeout, plus the script's own. */
export const commonOptions = {
  url: { type: 'string' },
  room: { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false }
}

/**
 * Parse argv with node:util parseArgs. `options` extends commonOptions.
 * Returns {values, positionals}. Throws UsageError on bad input.
 */
export const parseCli = (argv, options, { requireRoom = true, allowPositionals = false } = {}) => {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals, strict: true })
  } catch (err) {
    throw new UsageError(err.message)
  }
  const v = parsed.values
  if (v.help) return parsed
  if (!v.url) throw new UsageError('--url ws://HOST:PORT/yjs is required')
  if (!/^wss?:\/\//.test(v.url)) throw new UsageError(`--url must start with ws:// or wss://, got ${v.url}`)
  if (requireRoom && !v.room) throw new UsageError('--room NAME is required')
  return parsed
}

/** Parse a numeric option, with bounds. */
export const num = (values, name, { min = -Infinity, max = Infinity, integer = true } = {}) => {
  const raw = values[name]
  const x = Number(raw)
  if (raw === undefined || raw === '' || Number.isNaN(x) || (integer && !Number.isInteger(x))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got ${raw}`)
  }
  if (x < min || x > max) throw new UsageError(`--${name} must be in [${min}, ${max}], got ${x}`)
  return x
}

const runCleanups = async () => {
  const fns = state.cleanups.splice(0).reverse()
  for (const fn of fns) {
    try { await Promise.race([fn(), new Promise((resolve) => setTimeout(resolve, 1000))]) } catch (err) {
      process.stderr.write(`cleanup error: ${err?.stack || err}\n`)
    }
  }
}

const finish = async (code, obj) => {
  if (state.done) return
  state.done = true
  process.stdout.write(JSON.stringify(obj) + '\n')
  await runCleanups()
  process.exit(code)
}

/** Print the failure JSON line + stderr message and exit. */
export const fail = (err, code = EXIT_FAILURE) => {
  const message = err instanceof Error ? err.message : String(err)
  const fields = err instanceof ScenarioError ? err.fields : {}
  process.stderr.write(`error [phase: ${state.phase}]: ${message}\n`)
  if (!(err instanceof ScenarioError) && !(err instanceof UsageError) && err?.stack) {
    process.stderr.write(err.stack + '\n')
  }
  return finish(code, { ok: false, error: message, phase: state.phase, elapsed_ms: round(elapsedMs()), ...fields })
}

/**
 * Run `main(values, positionals)` with a global deadline of --timeout seconds
 * (default: parseOpts.defaultTimeout(values, positionals), else 30).
 * `main` returns the result object, printed as {"ok": true, ...result}.
 */
export const runMain = async (usage, options, main, parseOpts = {}) => {
  const { defaultTimeout = () => 30, ...parseCliOpts } = parseOpts
  let parsed
  try {
    parsed = parseCli(process.argv.slice(2), options, parseCliOpts)
  } catch (err) {
    process.stderr.write(usage + '\n')
    return fail(err, EXIT_USAGE)
  }
  if (parsed.values.help) {
    process.stdout.write(usage + '\n')
    process.exit(0)
  }
  let timeoutS
  try {
    if (parsed.values.timeout === undefined) parsed.values.timeout = String(defaultTimeout(parsed.values, parsed.positionals))
    timeoutS = num(parsed.values, 'timeout', { min: 0.1, max: 86400, integer: false })
  } catch (err) {
    return fail(err, EXIT_USAGE)
  }
  state.deadline = state.started + timeoutS * 1000
  const timer = setTimeout(() => {
    fail(new ScenarioError(`global timeout after ${timeoutS}s (stuck in phase "${state.phase}")`, { timeout_s: timeoutS }))
  }, timeoutS * 1000)
  process.on('uncaughtException', (err) => fail(err))
  process.on('unhandledRejection', (err) => fail(err))
  try {
    const result = await main(parsed.values, parsed.positionals)
    clearTimeout(timer)
    await finish(0, { ok: true, ...result, elapsed_ms: round(elapsedMs()) })
  } catch (err) {
    clearTimeout(timer)
    await fail(err, err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE)
  }
}

/**
 * Wait until `check()` returns a truthy value, re-evaluating it whenever one of
 * `sources` (pairs [emitter, eventName]; emitters with on/off) fires.
 * Rejects with a ScenarioError after `timeoutMs`; `describe()` adds detail to the message.
 * `abort` (optional): a function returning an Error to fail early (e.g. server closed us).
 */
export const until = (label, check, sources, timeoutMs, { describe = () => '', abort = () => null } = {}) =>
  new Promise((resolve, reject) => {
    const handlers = []
    let timer = null
    const cleanup = () => {
      clearTimeout(timer)
      for (const [em, ev, h] of handlers) em.off(ev, h)
    }
    const evaluate = () => {
      let value
      try {
        const err = abort()
        if (err) { cleanup(); reject(err); return true }
        value = check()
      } catch (err) {
        cleanup(); reject(err); return true
      }
      if (value) { cleanup(); resolve(value); return true }
      return false
    }
    if (evaluate()) return
    for (const [em, ev] of sources) {
      const h = () => { evaluate() }
      em.on(ev, h)
      handlers.push([em, ev, h])
    }
    timer = setTimeout(() => {
      cleanup()
      const detail = describe()
      reject(new ScenarioError(`timed out after ${Math.round(timeoutMs)} ms waiting for ${label}${detail ? ': ' + detail : ''}`))
    }, timeoutMs)
  })
