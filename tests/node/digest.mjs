// Prints the page's delete-set digest (web/src/room/connection.js) of concurrent edits and
// deletions made with Yjs, and the doc as an update, for tests/test_durable_deletes.py to compare
// with the server's digest (backend/rooms/durability.py) of the same doc in yrs.
// The web bundle's own yjs, so the page code and this script share one Yjs instance.
const Y = await import(new URL('../../web/node_modules/yjs/dist/yjs.mjs', import.meta.url))
const { deleteSetDigest } = await import(new URL('../../web/src/room/connection.js', import.meta.url))

const a = new Y.Doc()
const b = new Y.Doc()
a.getMap('files').set('x', new Y.Text('hello world, this is text ✓ 😀 and more'))
Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
b.getMap('files').get('x').delete(2, 5)
a.getMap('files').get('x').insert(0, 'abc')
a.getMap('files').get('x').delete(10, 3)
a.getMap('files').get('x').delete(12, 1)
Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
b.getArray('comments').push([new Y.Map()])
b.getArray('comments').delete(0, 1)
b.getMap('files').delete('x')
Y.applyUpdate(a, Y.encodeStateAsUpdate(b))
process.stdout.write(JSON.stringify({
  a: deleteSetDigest(a),
  b: deleteSetDigest(b),
  update: Buffer.from(Y.encodeStateAsUpdate(a)).toString('base64')
}))
