"""requirements.lock pins every dependency pyproject.toml declares, within its bounds."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT


def lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = pinned
    return pins


def test_lock_pins_every_declared_dependency_within_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    pins = lock_pins()
    for spec in map(Requirement, declared):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is declared but not in requirements.lock (re-run pip-compile)"
        assert spec.specifier.contains(pins[name], prereleases=True), f"{spec} vs lock {pins[name]}"
    assert "numpy" not in {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
