// The code editor (lazy entry: only the room loads it): Monaco with one y-monaco binding per open
// file, per-user undo (Y.UndoManager tracking only this client's binding), viewport publishing for
// follow mode, and comment-range decorations.
import * as Y from 'yjs'
import { MonacoBinding } from 'y-monaco'
import { installWorker, monaco } from './monaco.js'
import { languageFor } from './room/language.js'

/**
 * @param {HTMLElement} container
 * @param {object} ctx  session context: doc, files, awareness
 * @param {{readOnly: boolean, workerUrl: string, compact: boolean,
 *          onLocalIntent: () => void, onSelection: (sel: {file, start, end}|null) => void}} opts
 */
export function createEditor (container, ctx, opts) {
  installWorker(opts.workerUrl)
  const editor = monaco.editor.create(container, {
    model: null,
    automaticLayout: true,
    readOnly: opts.readOnly,
    domReadOnly: opts.readOnly,
    theme: matchMedia('(prefers-color-scheme: dark)').matches ? 'vs-dark' : 'vs',
    minimap: { enabled: !opts.compact },
    fontSize: opts.compact ? 13 : 14,
    lineNumbersMinChars: opts.compact ? 3 : 5,
    padding: { top: 18 },
    scrollBeyondLastLine: false,
    renderValidationDecorations: 'off',
    fixedOverflowWidgets: true,
    wordWrap: opts.compact ? 'on' : 'off'
  })
  const editors = new Set([editor])
  /** @type {Map<string, {ytext: Y.Text, model: any, binding: MonacoBinding, undo: Y.UndoManager, view: any}>} */
  const open = new Map()
  let current = null
  let commentDecorations = editor.createDecorationsCollection([])
  let applyingRemoteView = false

  function ensure (path) {
    let entry = open.get(path)
    if (entry) return entry
    const ytext = ctx.files.get(path)
    if (!(ytext instanceof Y.Text)) return null
    const uri = monaco.Uri.from({ scheme: 'tandem', path: '/' + path })
    monaco.editor.getModel(uri)?.dispose()
    const model = monaco.editor.createModel(ytext.toString(), languageFor(path, monaco), uri)
    model.setEOL(monaco.editor.EndOfLineSequence.LF)
    const binding = new MonacoBinding(ytext, model, editors, ctx.awareness)
    const undo = new Y.UndoManager(ytext, { trackedOrigins: new Set([binding]), captureTimeout: 600 })
    entry = { ytext, model, binding, undo, view: null }
    open.set(path, entry)
    return entry
  }

  function show (path) {
    if (current && open.has(current)) open.get(current).view = editor.saveViewState()
    if (path === null) {
      current = null
      editor.setModel(null)
      ctx.awareness.setLocalStateField('selection', null)
      return false
    }
    const entry = ensure(path)
    if (!entry) return false
    current = path
    if (editor.getModel() !== entry.model) {
      editor.setModel(entry.model)
      if (entry.view) editor.restoreViewState(entry.view)
    }
    publishSelection()
    publishViewport()
    renderComments()
    return true
  }

  function close (path) {
    const entry = open.get(path)
    if (!entry) return
    open.delete(path)
    if (current === path) show(null)
    entry.undo.destroy()
    entry.model.dispose() // y-monaco destroys its binding on model dispose
  }

  // --- awareness: selection (y-monaco writes it on cursor moves; also on file switch) and viewport
  function publishSelection () {
    const entry = current && open.get(current)
    const sel = editor.getSelection()
    if (!entry || !sel) return
    const m = entry.model
    let anchor = m.getOffsetAt(sel.getStartPosition())
    let head = m.getOffsetAt(sel.getEndPosition())
    if (sel.getDirection() === monaco.SelectionDirection.RTL) [anchor, head] = [head, anchor]
    ctx.awareness.setLocalStateField('selection', {
      anchor: Y.createRelativePositionFromTypeIndex(entry.ytext, anchor),
      head: Y.createRelativePositionFromTypeIndex(entry.ytext, head)
    })
  }

  let viewportTimer = 0
  function publishViewport () {
    clearTimeout(viewportTimer)
    viewportTimer = setTimeout(() => {
      const entry = current && open.get(current)
      if (!entry) return ctx.awareness.setLocalStateField('viewport', null)
      const ranges = editor.getVisibleRanges()
      const line = ranges.length ? ranges[0].startLineNumber : 1
      const top = editor.getScrollTop() - editor.getTopForLineNumber(line) // pixels into that line
      const index = entry.model.getOffsetAt({ lineNumber: line, column: 1 })
      ctx.awareness.setLocalStateField('viewport', {
        file: current,
        line,
        offset: Math.max(0, Math.round(top)),
        anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(entry.ytext, index))
      })
    }, 60)
  }

  editor.onDidScrollChange(e => { if (e.scrollTopChanged && !applyingRemoteView) publishViewport() })
  editor.onDidChangeCursorSelection(e => {
    const entry = current && open.get(current)
    const sel = editor.getSelection()
    if (!entry || !sel) return opts.onSelection(null)
    opts.onSelection(sel.isEmpty()
      ? null
      : { file: current, start: entry.model.getOffsetAt(sel.getStartPosition()), end: entry.model.getOffsetAt(sel.getEndPosition()) })
  })

  // --- typing stops follow mode; Escape too (handled by the room, which owns follow state)
  editor.onKeyDown(e => {
    const k = e.browserEvent.key
    if (k === 'Escape' || k.length === 1 || k === 'Enter' || k === 'Backspace' || k === 'Delete' || k === 'Tab') opts.onLocalIntent(k)
  })
  editor.onMouseDown(() => opts.onLocalIntent('mouse'))

  // --- per-user undo: only this client's edits, never someone else's
  const undoCurrent = () => { const e = current && open.get(current); if (e && !opts.readOnly) e.undo.undo() }
  const redoCurrent = () => { const e = current && open.get(current); if (e && !opts.readOnly) e.undo.redo() }
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyZ, undoCurrent)
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyMod.Shift | monaco.KeyCode.KeyZ, redoCurrent)
  editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyY, redoCurrent)
  // The context menu / command palette entries go through the same stacks.
  const trigger = editor.trigger.bind(editor)
  editor.trigger = (source, handlerId, payload) => {
    if (handlerId === 'undo') return undoCurrent()
    if (handlerId === 'redo') return redoCurrent()
    return trigger(source, handlerId, payload)
  }

  // --- follow: show what another client shows
  function followView (viewport) {
    if (!viewport || viewport.file !== current) return
    const entry = open.get(current)
    let line = viewport.line
    try {
      const abs = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(viewport.anchor), ctx.doc)
      if (abs && abs.type === entry.ytext) line = entry.model.getPositionAt(abs.index).lineNumber
    } catch { /* fall back to the line number */ }
    applyingRemoteView = true
    editor.setScrollTop(editor.getTopForLineNumber(line) + (viewport.offset || 0), monaco.editor.ScrollType.Immediate)
    applyingRemoteView = false
  }

  function revealOffset (index, endIndex = index) {
    const entry = current && open.get(current)
    if (!entry) return
    const a = entry.model.getPositionAt(index)
    const b = entry.model.getPositionAt(endIndex)
    editor.revealRangeInCenterIfOutsideViewport(new monaco.Range(a.lineNumber, a.column, b.lineNumber, b.column))
  }

  // --- comment ranges of the current file: [{id, start, end, resolved}]
  let commentRanges = () => []
  function renderComments () {
    const entry = current && open.get(current)
    if (!entry) return commentDecorations.clear()
    commentDecorations.set(commentRanges(current).filter(r => !r.resolved).map(r => {
      const a = entry.model.getPositionAt(r.start)
      const b = entry.model.getPositionAt(r.end)
      return {
        range: new monaco.Range(a.lineNumber, a.column, b.lineNumber, b.column),
        options: { className: 'comment-range', linesDecorationsClassName: 'comment-gutter', hoverMessage: { value: 'Comment thread' }, stickiness: 1 }
      }
    }))
  }
  ctx.doc.on('afterTransaction', () => queueMicrotask(renderComments))

  return {
    editor,
    monaco,
    show,
    close,
    current: () => current,
    isOpen: path => open.has(path),
    followView,
    revealOffset,
    focus: () => editor.focus(),
    setCommentSource (fn) { commentRanges = fn; renderComments() },
    setReadOnly (ro) { editor.updateOptions({ readOnly: ro, domReadOnly: ro }) },
    lineOf (index) { const e = current && open.get(current); return e ? e.model.getPositionAt(index).lineNumber : null },
    undoManager: path => open.get(path)?.undo || null
  }
}
