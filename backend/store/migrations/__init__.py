"""Alembic migrations of Tandem's schema; they ship in the package (backend.store.schema runs them).

The revisions up to `0004` also adopt databases made before migrations existed (by `create_all`
plus hand-written ALTERs, with no version table): each creates only what is missing, so such a
database upgrades in place and keeps its rows. Later revisions are ordinary ones.
"""
