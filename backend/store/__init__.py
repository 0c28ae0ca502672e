"""Persistence of rooms: the `DocumentStore` seam, its SQL implementation and the group-commit writer."""
