// Monaco's editor worker (diffs, word ranges, links), bundled as its own entry.
import 'monaco-editor/esm/vs/editor/editor.worker.js'
