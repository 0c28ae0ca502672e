"""deploy/images/app/Dockerfile, read without Docker: the final image is made from the runtime
stage alone (never the build CA, Node or a compiler), the build stages get the CA, and compose and
scripts/build-images.sh build it the same way. (tests/test_compose_up.py builds and runs it.)"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import yaml

from tests.support import ROOT

DOCKERFILE = ROOT / "deploy" / "images" / "app" / "Dockerfile"


@dataclass
class Stage:
    name: str
    parent: str  # the FROM argument: an image or an earlier stage's name
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)


def parse(text: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    stages: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        op, _, args = line.strip().partition(" ")
        op = op.upper()
        if op == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"#{len(stages)}"
            stages.append(Stage(name, words[0]))
        elif stages:
            stages[-1].instructions.append((op, args.strip()))
    return stages


STAGES = parse(DOCKERFILE.read_text())
BY_NAME = {s.name: s for s in STAGES}


def lineage(stage: Stage) -> list[Stage]:
    """The stage and every stage it is built FROM: what the image's layers come from."""
    chain = [stage]
    while chain[-1].parent in BY_NAME:
        chain.append(BY_NAME[chain[-1].parent])
    return chain


FINAL = lineage(STAGES[-1])


def test_the_stages_are_frontend_wheel_and_a_runtime() -> None:
    assert [s.name for s in STAGES[:-1]] == ["runtime", "frontend", "wheel"]
    assert [s.name for s in FINAL] == [STAGES[-1].name, "runtime"]
    assert BY_NAME["runtime"].parent == BY_NAME["frontend"].parent == "${BASE_IMAGE}"
    assert DOCKERFILE.read_text().count("ARG BASE_IMAGE=tandem-debian:bookworm") == 1


def test_the_final_image_never_copies_the_ca_or_the_front_end_toolchain() -> None:
    copies = [args for stage in FINAL for op, args in stage.instructions if op in ("COPY", "ADD")]
    # Only the wheel stage's venv: no build context file at all, so not deploy/ca either.
    assert copies == ["--from=wheel /opt/tandem /opt/tandem"]
    text = " ".join(args for stage in FINAL for _, args in stage.instructions)
    for word in ("deploy/ca", "build-ca", "PIP_CERT", "NODE_EXTRA_CA_CERTS", "cafile"):
        assert word not in text, word
    for package in ("nodejs", "npm", "gcc", "build-essential", "python3-dev", "python3-venv"):
        assert not re.search(rf"(?<![\w-]){re.escape(package)}(?![\w-])", text), package


def test_the_runtime_has_pg_dump_an_unprivileged_user_and_a_healthcheck() -> None:
    runtime = " ".join(args for _, args in BY_NAME["runtime"].instructions)
    assert "postgresql-client" in runtime  # pg_dump, for scheduled backups
    final = dict(STAGES[-1].instructions)
    assert "--uid 1000" in final["RUN"] and final["USER"] == "tandem"
    assert "/healthz" in final["HEALTHCHECK"]


def test_the_build_stages_trust_the_ca_directory_and_use_the_lock() -> None:
    for name, variables in (
        ("frontend", ("NODE_EXTRA_CA_CERTS", "npm_config_cafile")),
        ("wheel", ("PIP_CERT",)),
    ):
        stage = dict(BY_NAME[name].instructions)
        assert "deploy/ca/ /build-ca/" in [a for op, a in BY_NAME[name].instructions if op == "COPY"]
        for variable in variables:
            assert f"{variable}=/build-ca.pem" in stage["ENV"], (name, variable)
    frontend = " ".join(a for _, a in BY_NAME["frontend"].instructions)
    assert "web/package-lock.json" in frontend and "npm ci" in frontend and "node build.mjs" in frontend
    wheel = " ".join(a for _, a in BY_NAME["wheel"].instructions)
    assert "-c /src/requirements.lock" in wheel and "--only-binary=:all:" in wheel
    assert "--from=frontend /src/web/static/dist/" in wheel


def test_the_ca_directory_is_ignored_by_git_but_sent_to_the_build() -> None:
    probe = "deploy/ca/proxy.crt"
    ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT)
    assert ignored.returncode == 0, "a CA file must never be committed"
    kept = subprocess.run(["git", "check-ignore", "-q", "deploy/ca/README.md"], cwd=ROOT)
    assert kept.returncode == 1
    rules = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!deploy/ca" in rules
    assert {"web/node_modules", "web/static/dist"} <= set(rules)  # built inside the image


def test_compose_and_the_build_script_build_this_dockerfile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("app1", "app2"):
        build = compose["services"][name]["build"]
        assert build["context"] == "." and build["dockerfile"] == "deploy/images/app/Dockerfile"
        assert build["network"] == "host"
        assert "BASE_IMAGE" in build["args"]
    script = (ROOT / "scripts" / "build_images.py").read_text()
    assert 'dockerfile=IMAGES / "app" / "Dockerfile"' in script
