"""The live Yjs rooms: protocol parsing, clients, rooms and the manager that loads and unloads them."""
