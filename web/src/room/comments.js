// Review comments: threads in the `comments` Y.Array, each anchored to a code range with Yjs
// relative positions (so it moves with the code), with replies and resolve/reopen.
import * as Y from 'yjs'
import { h } from '../lib/dom.js'
import { randomId } from '../lib/identity.js'
import { encodeAnchor, resolveAnchor } from './files.js'

export const ORIGIN_COMMENTS = 'tandem:comments'

/** Resolved ranges of a file's threads, for editor decorations. */
export function commentRanges (ctx, file) {
  const ytext = ctx.files.get(file)
  const out = []
  if (!ytext) return out
  ctx.comments.forEach(c => {
    if (!(c instanceof Y.Map) || c.get('file') !== file) return
    const start = resolveAnchor(ctx.doc, ytext, c.get('anchorStart'))
    const end = resolveAnchor(ctx.doc, ytext, c.get('anchorEnd'))
    if (start !== null && end !== null) out.push({ id: c.get('id'), start, end: Math.max(start, end), resolved: Boolean(c.get('resolved')) })
  })
  return out
}

export function addThread (ctx, { file, start, end, body, author }) {
  const ytext = ctx.files.get(file)
  const thread = new Y.Map()
  ctx.doc.transact(() => {
    thread.set('id', randomId(8))
    thread.set('file', file)
    thread.set('anchorStart', encodeAnchor(ytext, start, 0))
    thread.set('anchorEnd', encodeAnchor(ytext, end, -1))
    thread.set('author', author)
    thread.set('body', body)
    thread.set('createdAt', Date.now())
    thread.set('resolved', false)
    thread.set('replies', new Y.Array())
    ctx.comments.push([thread])
  }, ORIGIN_COMMENTS)
  return thread
}

/**
 * @param {HTMLElement} root  the comments panel
 * @param {{author: () => object, mayComment?: boolean, selection: () => ({file, start, end}|null), currentFile: () => string|null,
 *          reveal: (file, start, end) => void, lineOf: (file, index) => number|null}} opts
 */
export function createCommentsPanel (root, ctx, opts) {
  const list = root.querySelector('.threads')
  const form = root.querySelector('form.new-comment')
  const textarea = form.querySelector('textarea')
  const addButton = root.querySelector('button.add-comment')
  const showAll = root.querySelector('input.show-all')
  const showResolved = root.querySelector('input.show-resolved')
  let draft = null // the selection a new comment is for
  // Viewers read threads; they get no control that writes one (the server would refuse it).
  const mayComment = opts.mayComment !== false
  if (!mayComment) { addButton.remove(); form.remove() }

  addButton.addEventListener('click', () => {
    draft = opts.selection()
    if (!draft) return
    form.hidden = false
    form.querySelector('.quote').textContent = excerpt(draft.file, draft.start, draft.end)
    textarea.focus()
  })
  form.addEventListener('submit', e => {
    e.preventDefault()
    const body = textarea.value.trim()
    if (!body || !draft || !ctx.files.get(draft.file)) return
    addThread(ctx, { ...draft, body, author: opts.author() })
    textarea.value = ''
    form.hidden = true
    draft = null
  })
  form.querySelector('button.cancel').addEventListener('click', () => { form.hidden = true; draft = null })
  textarea.addEventListener('keydown', e => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit() })

  function excerpt (file, start, end) {
    const text = ctx.files.get(file)?.toString() || ''
    const s = text.slice(start, end)
    return s.length > 240 ? s.slice(0, 240) + '…' : s
  }

  function selectionChanged () {
    if (mayComment) addButton.disabled = !opts.selection()
  }

  const drafts = new Map() // thread id → unsent reply text, kept across re-renders

  function render () {
    const focused = list.contains(document.activeElement) ? document.activeElement : null
    const focusId = focused?.closest('.thread')?.dataset.id
    const caretAt = focused?.selectionStart
    renderList()
    if (focusId) {
      const again = list.querySelector(`.thread[data-id="${CSS.escape(focusId)}"] .reply textarea`)
      if (again) { again.focus(); if (caretAt !== undefined && caretAt !== null) again.setSelectionRange(caretAt, caretAt) }
    }
  }

  function renderList () {
    const file = opts.currentFile()
    const threads = []
    let malformed = 0 // entries no client should have written: skipped, with a note, never fatal
    ctx.comments.forEach(c => { if (wellFormed(c)) threads.push(c); else malformed++ })
    const visible = threads.filter(c => (showAll.checked || c.get('file') === file) && (showResolved.checked || !c.get('resolved')))
    const ranges = new Map()
    for (const f of new Set(visible.map(c => c.get('file')))) for (const r of commentRanges(ctx, f)) ranges.set(r.id, r)
    visible.sort((a, b) => (ranges.get(a.get('id'))?.start ?? 1e12) - (ranges.get(b.get('id'))?.start ?? 1e12))
    list.replaceChildren(...visible.map(c => thread(c, ranges.get(c.get('id')))))
    const hint = mayComment ? 'No comments on this file. Select code and press “Comment”.' : 'No comments on this file.'
    if (malformed) list.append(h('p.muted.malformed', {}, `${malformed} malformed comment${malformed > 1 ? 's were' : ' was'} skipped.`))
    if (!visible.length) list.append(h('p.muted', {}, file ? hint : 'Open a file to see its comments.'))
    root.dataset.count = String(threads.filter(c => !c.get('resolved')).length)
    document.querySelectorAll('[data-comment-count]').forEach(el => { el.textContent = root.dataset.count === '0' ? '' : root.dataset.count })
  }

  function thread (c, range) {
    const file = c.get('file')
    const author = c.get('author') || {}
    const resolved = Boolean(c.get('resolved'))
    const replies = c.get('replies')
    const lines = range ? `${opts.lineOf(file, range.start)}–${opts.lineOf(file, range.end)}` : ''
    const id = c.get('id')
    const replyInput = h('textarea', { rows: 1, placeholder: 'Reply…', 'aria-label': 'Reply', value: drafts.get(id) || '' })
    replyInput.addEventListener('input', () => drafts.set(id, replyInput.value))
    const sendReply = () => {
      const body = replyInput.value.trim()
      if (!body) return
      drafts.delete(id)
      replyInput.value = ''
      const reply = new Y.Map()
      ctx.doc.transact(() => {
        reply.set('id', randomId(8))
        reply.set('author', opts.author())
        reply.set('body', body)
        reply.set('createdAt', Date.now())
        replies.push([reply])
      }, ORIGIN_COMMENTS)
    }
    replyInput.addEventListener('keydown', e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); sendReply() } })
    return h('article.thread', {
      dataset: { id: c.get('id'), file, resolved: String(resolved), start: String(range?.start ?? -1), end: String(range?.end ?? -1), lines },
      onclick: e => { if (range && !e.target.closest('button,textarea')) opts.reveal(file, range.start, range.end) }
    },
    h('header', {},
      h('span.where', {}, `${file}${lines ? ' : ' + lines : ''}`),
      mayComment
        ? h('button.resolve', {
          onclick: () => ctx.doc.transact(() => c.set('resolved', !resolved), ORIGIN_COMMENTS)
        }, resolved ? 'Reopen' : 'Resolve')
        : null),
    h('blockquote.quote', {}, range ? excerpt(file, range.start, range.end) : '(the commented code was deleted)'),
    message(author, c.get('body'), c.get('createdAt')),
    replies instanceof Y.Array ? replies.toArray().filter(wellFormed).map(r => message(r.get('author') || {}, r.get('body'), r.get('createdAt'))) : null,
    mayComment ? h('div.reply', {}, replyInput, h('button', { onclick: sendReply }, 'Reply')) : null)
  }

  function message (author, body, at) {
    const when = new Date(Number.isFinite(at) ? at : 0)
    return h('div.message', { style: { '--user-color': typeof author.color === 'string' ? author.color : '#888' } },
      h('span.author', {}, typeof author.name === 'string' && author.name ? author.name : 'Someone'),
      h('time', { datetime: when.toISOString() }, when.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })),
      h('p.body', {}, typeof body === 'string' ? body : ''))
  }

  /** A thread or reply the panel can render: a map with a string body and a valid time, if any. */
  function wellFormed (c) {
    if (!(c instanceof Y.Map)) return false
    const at = c.get('createdAt')
    const author = c.get('author')
    return (at === undefined || (Number.isFinite(at) && Math.abs(at) <= 8.64e15)) && typeof c.get('body') === 'string' &&
      (author === undefined || (typeof author === 'object' && author !== null))
  }

  let scheduled = false
  const schedule = () => { if (!scheduled) { scheduled = true; setTimeout(() => { scheduled = false; render() }, 30) } }
  ctx.comments.observeDeep(schedule)
  // Ranges move with the code: re-render when the commented files change.
  ctx.files.observeDeep(schedule)
  showAll.addEventListener('change', render)
  showResolved.addEventListener('change', render)
  render()
  selectionChanged()
  return { render: schedule, selectionChanged }
}
