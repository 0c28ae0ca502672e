// A unified diff (as Python's difflib writes it) rendered as rows: old and new line numbers, then
// the line with its +/-/space mark; hunk headers as separators. Text only, never HTML.
import { h } from '../lib/dom.js'

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/

/** @param {string} text  a unified diff of one file */
export function renderUnifiedDiff (text) {
  const rows = []
  let oldLine = 0
  let newLine = 0
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  for (const line of lines) {
    if (line.startsWith('--- ') || line.startsWith('+++ ')) continue
    const hunk = HUNK.exec(line)
    if (hunk) {
      oldLine = Number(hunk[1])
      newLine = Number(hunk[2])
      rows.push(row('hunk', '', '', line))
    } else if (line.startsWith('+')) {
      rows.push(row('add', '', newLine++, line))
    } else if (line.startsWith('-')) {
      rows.push(row('del', oldLine++, '', line))
    } else if (line.startsWith('\\')) {
      rows.push(row('meta', '', '', line)) // "\ No newline at end of file"
    } else {
      rows.push(row('ctx', oldLine++, newLine++, line))
    }
  }
  return h('div.hist-diff', { role: 'table', 'aria-label': 'Changes from the version to now' }, rows)
}

function row (kind, oldNo, newNo, text) {
  return h(`div.dl.${kind}`, { role: 'row' },
    h('span.ln', { 'aria-hidden': 'true' }, String(oldNo)),
    h('span.ln', { 'aria-hidden': 'true' }, String(newNo)),
    h('span.code', {}, text))
}
