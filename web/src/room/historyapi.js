// The version-history REST API of one session (/api/sessions/{id}/history), as the page calls it:
// the page's credentials (`?token=` of a share link, else the login cookie), the CSRF header on
// unsafe calls (double submit: GET /api/auth/csrf sets the cookie and returns the token), and
// `query` naming this person to a --no-auth server, as on /term.

/**
 * @param {string} session
 * @param {{token?: string|null, query?: object}} opts
 */
export function historyApi (session, { token = null, query = {} } = {}) {
  const base = `/api/sessions/${encodeURIComponent(session)}/history`
  let csrf = null

  const url = (path, params = {}) => {
    const u = new URL(base + path, location.origin)
    for (const [k, v] of Object.entries({ ...query, ...params, token })) {
      if (v !== null && v !== undefined && v !== '') u.searchParams.set(k, v)
    }
    return u
  }

  const csrfToken = () => {
    csrf ??= fetch('/api/auth/csrf', { headers: { accept: 'application/json' } })
      .then(r => (r.ok ? r.json() : Promise.reject(new Error(`CSRF token: HTTP ${r.status}`))))
      .then(j => j.csrf_token)
      .catch(err => { csrf = null; throw err })
    return csrf
  }

  async function call (method, path, { params, body, retried = false } = {}) {
    const headers = { accept: 'application/json' }
    if (method !== 'GET') {
      headers['x-csrf-token'] = await csrfToken()
      headers['content-type'] = 'application/json'
    }
    const r = await fetch(url(path, params), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    if (r.ok) return r.json()
    const detail = (await r.json().catch(() => null))?.detail
    const message = typeof detail === 'string' ? detail : `HTTP ${r.status}`
    // The CSRF cookie may have been replaced (another tab, a login): fetch it again, once.
    if (r.status === 403 && /csrf/i.test(message) && !retried) {
      csrf = null
      return call(method, path, { params, body, retried: true })
    }
    const err = new Error(message)
    err.status = r.status
    throw err
  }

  return {
    /** Newest first; `file`: only the versions that changed it. */
    list: (file = null, limit = 100) => call('GET', '', { params: { file, limit } }).then(j => j.versions),
    /** Unified diffs from the version to now (one file, or every file that differs). */
    diff: (id, file = null) => call('GET', `/${id}/diff`, { params: { file } }),
    checkpoint: () => call('POST', ''),
    /** `file` null: the whole session. */
    restore: (id, file = null) => call('POST', `/${id}/restore`, { body: file ? { file } : {} })
  }
}
