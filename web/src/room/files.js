// Operations on the `files` map (Y.Map<path, Y.Text>): create, rename/move, delete files and
// folders. Empty folders live in meta.folders (a folder with files exists through its paths).
// A move copies the text into a new Y.Text, re-anchors the comments on it, and records the move
// in meta.lastMove in the same transaction, so other clients retarget their tabs.
import * as Y from 'yjs'
import { randomId } from '../lib/identity.js'

export const ORIGIN_FILES = 'tandem:files'

/** "a//b/./c/" → "a/b/c"; null when nothing is left or a segment is "..". */
export function normalizePath (raw) {
  const parts = String(raw || '').replace(/\\/g, '/').split('/').filter(s => s && s !== '.')
  if (!parts.length || parts.some(s => s === '..')) return null
  return parts.join('/')
}

// A name longer than the file system allows (255 bytes on Linux) would live in the doc only:
// the workspace sync cannot write it, so the terminal would never see the file.
const NAME_MAX_BYTES = 255
const encoder = new TextEncoder()
function checkNames (path) {
  if (path.split('/').some(s => encoder.encode(s).length > NAME_MAX_BYTES)) {
    throw new Error(`A file or folder name can be at most ${NAME_MAX_BYTES} bytes long.`)
  }
}

export const dirname = p => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '')
export const basename = p => p.slice(p.lastIndexOf('/') + 1)
const within = (p, folder) => p === folder || p.startsWith(folder + '/')

/** Every folder: parents of files plus explicitly created (possibly empty) ones. */
export function listFolders (files, meta) {
  const out = new Set()
  const addParents = p => { for (let d = dirname(p); d; d = dirname(d)) out.add(d) }
  for (const p of files.keys()) addParents(p)
  for (const f of meta.get('folders') || []) { out.add(f); addParents(f) }
  return out
}

export function exists ({ files, meta }, path) {
  return files.has(path) || listFolders(files, meta).has(path)
}

export function createFile (ctx, rawPath, content = '') {
  const path = normalizePath(rawPath)
  if (!path) throw new Error('That is not a valid file name.')
  checkNames(path)
  if (exists(ctx, path)) throw new Error(`${path} already exists.`)
  ctx.doc.transact(() => {
    ctx.files.set(path, new Y.Text(content))
    dropFolderEntries(ctx, dirname(path), true)
  }, ORIGIN_FILES)
  return path
}

export function createFolder (ctx, rawPath) {
  const path = normalizePath(rawPath)
  if (!path) throw new Error('That is not a valid folder name.')
  checkNames(path)
  if (exists(ctx, path)) throw new Error(`${path} already exists.`)
  ctx.doc.transact(() => {
    const folders = (ctx.meta.get('folders') || []).filter(f => !within(path, f))
    ctx.meta.set('folders', [...folders, path])
  }, ORIGIN_FILES)
  return path
}

/** Remove folder entries that are now implied by a file (ancestorsOnly) or lie inside a folder. */
function dropFolderEntries (ctx, folder, ancestorsOnly = false) {
  const folders = ctx.meta.get('folders') || []
  const keep = folders.filter(f => ancestorsOnly ? !(folder && within(folder, f)) : !within(f, folder))
  if (keep.length !== folders.length) ctx.meta.set('folders', keep)
}

/**
 * Rename or move a file or folder. `to` is the full new path.
 * @returns {Array<[string, string]>} the file moves done
 */
export function movePath (ctx, from, rawTo) {
  const to = normalizePath(rawTo)
  if (!to) throw new Error('That is not a valid name.')
  checkNames(to)
  if (to === from) return []
  const isFolder = !ctx.files.has(from)
  if (isFolder && within(to, from)) throw new Error('A folder cannot move into itself.')
  if (exists(ctx, to)) throw new Error(`${to} already exists.`)
  const moves = isFolder
    ? [...ctx.files.keys()].filter(p => within(p, from)).map(p => [p, to + p.slice(from.length)])
    : [[from, to]]
  ctx.doc.transact(() => {
    for (const [a, b] of moves) {
      const old = ctx.files.get(a)
      const anchors = commentAnchorsOf(ctx, a, old)
      const text = new Y.Text(old.toString())
      ctx.files.delete(a)
      ctx.files.set(b, text)
      for (const { comment, start, end } of anchors) {
        comment.set('file', b)
        comment.set('anchorStart', encodeAnchor(text, start, 0))
        comment.set('anchorEnd', encodeAnchor(text, end, -1))
      }
    }
    if (isFolder) {
      const folders = (ctx.meta.get('folders') || []).map(f => within(f, from) ? to + f.slice(from.length) : f)
      if (!moves.length && !folders.includes(to)) folders.push(to)
      ctx.meta.set('folders', folders)
    }
    dropFolderEntries(ctx, dirname(to), true)
    ctx.meta.set('lastMove', { id: randomId(6), moves: isFolder ? [[from, to], ...moves] : moves })
  }, ORIGIN_FILES)
  return moves
}

export function deletePath (ctx, path) {
  ctx.doc.transact(() => {
    if (ctx.files.has(path)) {
      ctx.files.delete(path)
      return
    }
    for (const p of [...ctx.files.keys()]) if (within(p, path)) ctx.files.delete(p)
    dropFolderEntries(ctx, path)
  }, ORIGIN_FILES)
}

/** Where a path went according to the last recorded move, or null. */
export function movedTo (meta, path) {
  const last = meta.get('lastMove')
  if (!last || !Array.isArray(last.moves)) return null
  for (const [a, b] of last.moves) {
    if (a === path) return b
    if (path.startsWith(a + '/')) return b + path.slice(a.length)
  }
  return null
}

// ---- comment anchors (shared with comments.js) ----

export function encodeAnchor (ytext, index, assoc = 0) {
  const rel = Y.createRelativePositionFromTypeIndex(ytext, index, assoc)
  return toB64(Y.encodeRelativePosition(rel))
}

/** @returns {number|null} the index of an anchor in its text, null when it no longer resolves */
export function resolveAnchor (doc, ytext, b64) {
  if (typeof b64 !== 'string') return null
  try {
    const abs = Y.createAbsolutePositionFromRelativePosition(Y.decodeRelativePosition(fromB64(b64)), doc)
    return abs && abs.type === ytext ? abs.index : null
  } catch { return null }
}

function commentAnchorsOf (ctx, path, ytext) {
  const out = []
  ctx.comments.forEach(comment => {
    if (comment.get('file') !== path) return
    const start = resolveAnchor(ctx.doc, ytext, comment.get('anchorStart'))
    const end = resolveAnchor(ctx.doc, ytext, comment.get('anchorEnd'))
    if (start !== null && end !== null) out.push({ comment, start, end })
  })
  return out
}

const toB64 = bytes => btoa(String.fromCharCode(...bytes))
const fromB64 = s => Uint8Array.from(atob(s), c => c.charCodeAt(0))
