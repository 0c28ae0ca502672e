"""The wheel carries the built front end: `build_py` runs `node web/build.mjs` first.

Metadata lives in pyproject.toml; this file only adds the build step. Editable installs
(`pip install -e .`, scripts/install.sh) skip it: the checkout's web/static/dist is served in place
and install.sh builds it after installing. A wheel or sdist build without Node and web/node_modules
uses an existing bundle, and fails loudly when there is none (a wheel without its pages is broken).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
MANIFEST = WEB / "static" / "dist" / "manifest.json"


class BuildPyWithFrontEnd(build_py):
    def run(self) -> None:
        if not getattr(self, "editable_mode", False):
            self._build_front_end()
            # A previous build's hashed files would otherwise be packed beside the new ones.
            shutil.rmtree(Path(self.build_lib) / "web" / "static" / "dist", ignore_errors=True)
        super().run()

    def _build_front_end(self) -> None:
        node = shutil.which("node")
        if node and (WEB / "node_modules").exists():
            self.announce("building the front end: node web/build.mjs", level=2)
            subprocess.run([node, "build.mjs"], cwd=WEB, check=True)
        elif MANIFEST.exists():
            self.warn("node or web/node_modules missing: packing the existing web/static/dist")
        if not MANIFEST.exists():
            raise SystemExit(
                "tandem: web/static/dist is missing and cannot be built (needs Node 20+ and "
                "`npm ci` in web/). A wheel without the front end would serve no pages."
            )


setup(cmdclass={"build_py": BuildPyWithFrontEnd})
