// Re-exports of the pinned packages installed in tests/node/node_modules, so that
// bench/node/ (which has no node_modules of its own) resolves the very same copies.
// One yjs instance per process matters: yjs warns and breaks instanceof checks otherwise.
export * as Y from 'yjs'
export * as syncProtocol from 'y-protocols/sync'
export * as awarenessProtocol from 'y-protocols/awareness'
export * as encoding from 'lib0/encoding'
export * as decoding from 'lib0/decoding'
export { default as WebSocket } from 'ws'
