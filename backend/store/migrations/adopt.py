"""Helpers for the revisions that adopt databases made before migrations existed.

Such a database was made by `create_all` (which creates missing tables, never columns) plus
hand-written ALTERs at start-up, so it may hold any subset of the baseline's tables and any
subset of the later columns and indexes. These helpers create only what is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem


def _inspector() -> sa.Inspector:
    return sa.inspect(op.get_bind())  # fresh each time: it caches what it reflected


def has_table(table: str) -> bool:
    return _inspector().has_table(table)


def columns(table: str) -> set[str]:
    return {c["name"] for c in _inspector().get_columns(table)}


def indexes(table: str) -> set[str]:
    return {i["name"] for i in _inspector().get_indexes(table) if i["name"]}


def unique_constraints(table: str) -> set[str]:
    return {u["name"] for u in _inspector().get_unique_constraints(table) if u["name"]}


def create_table(table: str, *elements: SchemaItem) -> None:
    if not has_table(table):
        op.create_table(table, *elements)


def create_index(name: str, table: str, cols: list[str], unique: bool = False) -> None:
    if name not in indexes(table):
        op.create_index(name, table, cols, unique=unique)


def add_columns(table: str, *new: sa.Column) -> None:
    present = columns(table)
    missing = [c for c in new if c.name not in present]
    if missing:
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)
