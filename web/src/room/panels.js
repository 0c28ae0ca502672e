// The bottom panels: the shared terminal (xterm.js, lazy) and screen share (a video element).
// Until the server offers /term and /signal, they say so instead of failing silently.
import { $ } from '../lib/dom.js'
import { createSharePanel } from './sharepanel.js'
import { createTerminalPanel } from './terminals.js'

/**
 * @param {{session: string, token: string|null, readOnly: boolean, ctx: object, loadCss: (url: string) => void, assets: object,
 *   query?: object, light?: boolean, onShareOpen?: () => void}} opts
 */
export function createPanels (root, opts) {
  const tabs = root.querySelectorAll('[role=tab][data-panel]')
  const terminals = createTerminalPanel(root, $('[data-panel-body=terminal]', root), opts)
  let selected = null

  const select = (name, term) => {
    selected = name
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.panel === name))
    for (const p of root.querySelectorAll('[data-panel-body]')) p.hidden = p.dataset.panelBody !== name
    root.dataset.open = 'true'
    if (name === 'terminal') terminals.show(term)
    else terminals.hidden()
  }
  // A second click on the open tab folds the panel away, except on a phone, where the panel is
  // the whole screen: folded, it would leave that screen blank.
  const phone = () => matchMedia('(max-width: 760px)').matches
  for (const t of tabs) t.addEventListener('click', () => (selected === t.dataset.panel && root.dataset.open === 'true' && !phone()) ? collapse() : select(t.dataset.panel))
  const collapse = () => { root.dataset.open = 'false'; selected = null; terminals.hidden(); for (const t of tabs) t.setAttribute('aria-selected', 'false') }

  const share = createSharePanel(root, $('[data-panel-body=share]', root), {
    ...opts, light: Boolean(opts.light), select, onOpen: opts.onShareOpen
  })
  /** Open the Terminal panel on one terminal (the presence bar's "in the terminal" click). */
  const openTerminal = name => select('terminal', name)
  return { select, collapse, openTerminal, terminals, share }
}
