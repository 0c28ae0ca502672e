// Monaco language id for a path: Monaco's registered extensions and file names, plus a few extras.
const EXTRA = { '.mjs': 'javascript', '.cjs': 'javascript', '.jsx': 'javascript', '.tsx': 'typescript', '.toml': 'ini', '.cfg': 'ini', '.env': 'ini', '.txt': 'plaintext' }
const NAMES = { Dockerfile: 'dockerfile', Makefile: 'plaintext', '.gitignore': 'plaintext' }

export function languageFor (path, monaco) {
  const base = path.slice(path.lastIndexOf('/') + 1)
  if (NAMES[base]) return NAMES[base]
  const dot = base.lastIndexOf('.')
  const ext = dot >= 0 ? base.slice(dot).toLowerCase() : ''
  for (const lang of monaco.languages.getLanguages()) {
    if (lang.extensions?.some(e => e.toLowerCase() === ext)) return lang.id
    if (lang.filenames?.includes(base)) return lang.id
  }
  return EXTRA[ext] || 'plaintext'
}
