"""The README's settings table is generated from `Settings` and must be current."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from backend.settings import Settings
from tests.support import ROOT


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert _generator().readme_with_table(readme) == readme, "run: python scripts/settings_table.py --write"


def test_every_setting_has_a_row_with_its_default() -> None:
    table = _generator().table()
    for name in Settings.model_fields:
        assert f"`TANDEM_{name.upper()}`" in table, name
    assert "| `TANDEM_CLIENT_QUEUE_MAX_MESSAGES` | `65,536` |" in table
    assert "PydanticUndefined" not in table
