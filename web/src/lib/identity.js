// The local person: a stable id, a display name and a colour, kept in localStorage.
// In --no-auth mode this is what the room shows; with auth the server stamps `user` instead.

const KEY = 'tandem.identity'

export const COLORS = [
  '#e5484d', '#f76b15', '#ffc53d', '#46a758', '#12a594',
  '#0090ff', '#6e56cf', '#d6409f', '#8e4ec6', '#ad7f58'
]

const ADJECTIVES = ['Brisk', 'Calm', 'Clever', 'Eager', 'Gentle', 'Lucky', 'Quiet', 'Swift', 'Witty', 'Bold']
const ANIMALS = ['Otter', 'Heron', 'Lynx', 'Panda', 'Falcon', 'Koala', 'Badger', 'Marten', 'Puffin', 'Ibex']

const pick = list => list[Math.floor(Math.random() * list.length)]

export function randomId (bytes = 9) {
  const a = new Uint8Array(bytes)
  crypto.getRandomValues(a)
  return Array.from(a, b => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')
}

/** @returns {{id: string, name: string, color: string}} */
export function loadIdentity () {
  let stored = null
  try { stored = JSON.parse(localStorage.getItem(KEY) || 'null') } catch { stored = null }
  const identity = {
    id: stored?.id || randomId(),
    name: (stored?.name || '').trim() || `${pick(ADJECTIVES)} ${pick(ANIMALS)}`,
    color: COLORS.includes(stored?.color) || /^#[0-9a-f]{6}$/i.test(stored?.color || '') ? stored.color : pick(COLORS)
  }
  if (!stored || stored.id !== identity.id || stored.name !== identity.name || stored.color !== identity.color) {
    saveIdentity(identity)
  }
  return identity
}

export function saveIdentity (identity) {
  try {
    localStorage.setItem(KEY, JSON.stringify({ id: identity.id, name: identity.name.trim().slice(0, 40), color: identity.color }))
  } catch { /* private mode: the identity lives for this page only */ }
}
