// The first file's text before the live doc (#18 item 5). A large project's doc is tens of
// megabytes (seconds on a desktop, minutes on a phone's network); the file the page opens first
// is kilobytes. An inline script of the room page (web/templates/room.html) requests it
// (GET /api/sessions/{id}/files/first, the last open tab if the server has it) before the
// stylesheet and this code load, and shows it as read-only plain text when it arrives; this
// module retires it once the editor shows a live file.

/** The request the page started (null data: none, or it failed). Never rejects. */
export function firstTextRequest () {
  return window.__tandemFirstText || Promise.resolve(null)
}

/**
 * Retire the plain first text (`#first-text`) when `dismiss()` is called, or at once when it
 * arrives after a live file is already on screen.
 * @param {Promise<{path: string}|null>} pending
 * @param {{showing: () => boolean}} opts  whether the editor already shows a live file
 */
export function mountFirstText (pending, { showing }) {
  let done = false
  const dismiss = () => {
    done = true
    const el = document.getElementById('first-text')
    if (!el) return
    el.remove()
    document.body.dataset.firstText = 'live'
  }
  pending.then(() => { if (done || showing()) dismiss() })
  return { dismiss }
}
