// Tiny DOM helpers: h('button.primary', {onclick}, 'Save'), h('input#title.big').

export function h (tag, props = {}, ...children) {
  const id = tag.match(/#([\w-]+)/)
  const [name, ...classes] = (id ? tag.replace(id[0], '') : tag).split('.')
  const el = document.createElement(name || 'div')
  if (id) el.id = id[1]
  if (classes.length) el.className = classes.join(' ')
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k === 'value') el.value = v
    else if (k === 'style' && typeof v === 'object') {
      for (const [prop, val] of Object.entries(v)) {
        if (prop.startsWith('--')) el.style.setProperty(prop, val)
        else el.style[prop] = val
      }
    }
    else if (k in el && typeof v !== 'string') el[k] = v
    else el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

export const $ = (sel, root = document) => root.querySelector(sel)

// Whole graphemes: `w[0]` is half of a surrogate pair for an emoji ("🦊 Bob" showed "\uFFFD").
const graphemes = typeof Intl.Segmenter === 'function' ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null
const firstGrapheme = w => graphemes ? graphemes.segment(w)[Symbol.iterator]().next().value.segment : [...w][0]

export function initials (name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map(w => firstGrapheme(w).toUpperCase()).join('') || '?'
}

/** Debounce to the next animation frame. */
export function rafThrottle (fn) {
  let scheduled = false
  return () => {
    if (scheduled) return
    scheduled = true
    requestAnimationFrame(() => { scheduled = false; fn() })
  }
}
