"""Print (or write into README.md) the settings table, generated from `backend.settings.Settings`.

Each row: the environment variable, the default as `Settings()` has it, and the field's
description — its `Field(description=...)`, else the comment on its line, else the comment block
right above it. `python scripts/settings_table.py --write` rewrites the table between the README's
`<!-- settings:begin -->` and `<!-- settings:end -->` markers; `tests/test_readme_settings.py`
fails when the README's table is not what this prints.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_SOURCE = ROOT / "backend" / "settings.py"
README = ROOT / "README.md"
BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"


def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _field_description(node: ast.AnnAssign) -> str | None:
    value = node.value
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Field":
        for kw in value.keywords:
            if kw.arg == "description" and isinstance(kw.value, ast.Constant):
                return str(kw.value.value)
    return None


def rows() -> list[tuple[str, str | None]]:
    """(field, description) in source order, with ("", heading) for each section heading.

    A comment block after a blank line heads a section; one right under a field (no blank line)
    describes the next field.
    """
    source = SETTINGS_SOURCE.read_text()
    comments = _comments(source)
    lines = source.splitlines()
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    out: list[tuple[str, str | None]] = []
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        block: list[str] = []
        n = node.lineno - 1
        while n >= 1 and lines[n - 1].strip().startswith("#"):
            block.insert(0, comments.get(n, ""))
            n -= 1
        block_text = " ".join(b.strip("- ") for b in block if b.strip("- "))
        is_heading = bool(block) and (n < 1 or not lines[n - 1].strip())
        if is_heading and block_text:
            out.append(("", block_text))
        text = _field_description(node)
        if text is None:
            end = node.end_lineno or node.lineno
            text = next((comments[k] for k in range(node.lineno, end + 1) if k in comments), None)
        if text is None and not is_heading:
            text = block_text
        out.append((node.target.id, text or ""))
    return out


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, list):
        return "[]" if not value else ", ".join(map(str, value))
    return str(value)


def table() -> str:
    sys.path.insert(0, str(ROOT))
    from backend.settings import Settings

    defaults = Settings.model_construct()  # defaults only: no environment, no validation
    out = ["| variable | default | notes |", "|---|---|---|"]
    for name, text in rows():
        cell = (text or "").replace("|", "\\|")
        if not name:
            out.append(f"| **{cell}** | | |")
            continue
        out.append(f"| `TANDEM_{name.upper()}` | `{_default(getattr(defaults, name))}` | {cell} |")
    return "\n".join(out)


def readme_with_table(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + table() + "\n" + readme[end:]


def main(argv: list[str]) -> int:
    if argv[1:] == ["--write"]:
        README.write_text(readme_with_table(README.read_text()))
        return 0
    print(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
