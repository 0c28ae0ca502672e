// The JSON API from the pages: same-origin cookies, the CSRF token echoed on unsafe methods, and
// the server's `detail` as the error message (so a refusal is shown, never swallowed).

function csrfCookie () {
  const m = document.cookie.match(/(?:^|;\s*)tandem_csrf=([^;]+)/)
  return m ? decodeURIComponent(m[1]) : null
}

async function csrfToken () {
  const have = csrfCookie()
  if (have) return have
  const r = await fetch('/api/auth/csrf', { credentials: 'same-origin' })
  return (await r.json()).csrf_token
}

export class ApiError extends Error {
  constructor (status, message) { super(message); this.status = status }
}

/** `api('POST', '/api/sessions', {title})` → the parsed JSON (null for 204). */
export async function api (method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') headers['x-csrf-token'] = await csrfToken()
  const r = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  if (r.status === 204) return null
  let data = null
  try { data = await r.json() } catch { /* not JSON: the status says it */ }
  if (!r.ok) {
    const detail = data?.detail
    const msg = typeof detail === 'string' ? detail : Array.isArray(detail) ? detail.map(d => d.msg).join('; ') : `HTTP ${r.status}`
    throw new ApiError(r.status, msg)
  }
  return data
}

/** "3 min ago", "yesterday", a date. */
export function ago (iso) {
  if (!iso) return ''
  const t = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + 'Z').getTime()
  const s = Math.max(0, (Date.now() - t) / 1000)
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  if (s < 172800) return 'yesterday'
  return new Date(t).toLocaleDateString()
}
