"""Reproducible installs: every dependency comes from a lock file with hashes,
and every way of installing (make, CI, the image) goes through it."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"


@dataclass
class Pin:
    version: str
    requirement: Requirement
    hashes: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    """name -> pin; fails on anything a hash-checked lock should not hold."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip().removesuffix("\\").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            assert current is not None, f"{path.name}: a hash before any pin"
            current.hashes.append(line.removeprefix("--hash="))
            continue
        assert not line.startswith("-"), f"{path.name}: unexpected option {line!r}"
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line!r} is not pinned"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} pinned twice"
        current = pins[name] = Pin(specs[0].version, requirement)
    return pins


def project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    table: dict[str, object] = data["project"]
    return table


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in project()["dependencies"]]  # type: ignore[attr-defined]


def dev_requirements() -> list[Requirement]:
    return [Requirement(r) for r in project()["optional-dependencies"]["dev"]]  # type: ignore[index]


def assert_pins(lock: dict[str, Pin], requirements: list[Requirement], lock_name: str) -> None:
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{lock_name} does not pin {requirement.name} (run `make lock`)"
        pin = lock[name]
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{lock_name} pins {name}=={pin.version}, pyproject asks {requirement} (run `make lock`)"
        )
        assert pin.hashes, f"{lock_name}: {name} has no --hash"


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """The distributions these requirements pull in on this machine, with
    extras, from the installed metadata."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for spec in metadata.requires(name) or []:
            sub = Requirement(spec)
            env = default_environment()
            wanted = sub.marker is None or any(
                sub.marker.evaluate({**env, "extra": extra}) for extra in ("", *extras)
            )
            if wanted:
                todo.append((Requirement(f"{sub.name}{sub.specifier}"), frozenset(sub.extras)))
    return {key.split("[")[0] for key in seen}


def test_pyproject_names_uvicorn_without_its_standard_extra() -> None:
    names: dict[str, Requirement] = {canonicalize_name(r.name): r for r in runtime_requirements()}
    assert not names["uvicorn"].extras, "uvicorn[standard] pulls in watchfiles, websockets and more"
    assert "uvloop" in names and "httptools" in names  # the parts of [standard] the service runs on
    assert "uvicorn[standard]" not in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "uv" not in names, "uv compiles the locks; it is a dev tool"


def test_runtime_lock_pins_every_runtime_dependency_with_hashes() -> None:
    lock = read_lock(RUNTIME_LOCK)
    assert_pins(lock, runtime_requirements(), RUNTIME_LOCK.name)
    assert "uv" not in lock
    for name in ("watchfiles", "websockets"):
        assert name not in lock, f"{name} is not used at runtime"


def test_dev_lock_pins_runtime_and_dev_dependencies_with_hashes() -> None:
    lock = read_lock(DEV_LOCK)
    assert_pins(lock, runtime_requirements() + dev_requirements(), DEV_LOCK.name)
    assert "uv" in lock  # `make lock` runs the pinned uv


def test_every_pin_has_a_hash() -> None:
    for path in (RUNTIME_LOCK, DEV_LOCK):
        for name, pin in read_lock(path).items():
            assert pin.hashes, f"{path.name}: {name} has no --hash"
            assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), name


def test_dev_lock_agrees_with_runtime_lock() -> None:
    """Installing the dev lock is installing the runtime lock plus the dev
    tools, which is why the Makefile marks both as installed."""
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    for name, pin in runtime.items():
        assert name in dev, f"{DEV_LOCK.name} lacks {name}"
        assert dev[name].version == pin.version, (
            f"{name}: {pin.version} at runtime, {dev[name].version} in dev"
        )


def test_locks_cover_what_the_dependencies_pull_in() -> None:
    """Every distribution the requirements reach on this machine (transitively,
    extras included, as installed) is pinned: --require-hashes refuses an
    install that needs anything unpinned."""
    for requirements, path in (
        (runtime_requirements(), RUNTIME_LOCK),
        (runtime_requirements() + dev_requirements(), DEV_LOCK),
    ):
        lock = read_lock(path)
        try:
            reached = installed_closure(requirements)
        except metadata.PackageNotFoundError as exc:
            pytest.skip(f"not installed from the locks here: {exc}")
        missing = sorted(name for name in reached if name not in lock and name != "alert-service")
        assert not missing, f"{path.name} lacks {missing} (run `make lock`)"


def make_dry_run(*args: str) -> str:
    """The commands make would run from scratch, for a virtualenv that does not exist."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "VENV=/nonexistent/venv", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def pip_installs(commands: str) -> list[list[str]]:
    return [
        words
        for line in commands.splitlines()
        if (words := shlex.split(line)) and words[0].endswith("/pip") and "install" in words
    ]


@pytest.mark.parametrize(("target", "lock"), [("run", "requirements.lock"), ("migrate", "requirements.lock"),
                                              ("test", "requirements-dev.lock"), ("lint", "requirements-dev.lock")])  # fmt: skip
def test_make_installs_from_the_lock_with_hashes(target: str, lock: str) -> None:
    installs = pip_installs(make_dry_run(target))
    from_lock = [w for w in installs if "-r" in w and w[w.index("-r") + 1] == lock]
    assert from_lock, f"make {target} does not install from {lock}: {installs}"
    assert all("--require-hashes" in w for w in from_lock)
    app = [w for w in installs if "-e" in w or "." in w]
    assert app and all("--no-deps" in w for w in app), f"make {target} resolves the app's dependencies: {app}"
    assert installs.index(from_lock[0]) < installs.index(app[0])
    for words in installs:
        assert words in from_lock or words in app or words[-2:] == ["--upgrade", "pip"], words


def test_install_markers_depend_on_the_locks() -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-p", "VENV=/nonexistent/venv", "clean"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rules = {
        line.split(":", 1)[0]: line.split(":", 1)[1].split()
        for line in done.stdout.splitlines()
        if line.startswith("/nonexistent/venv/.installed") and ":" in line
    }
    assert "requirements.lock" in rules["/nonexistent/venv/.installed"]
    assert "requirements-dev.lock" in rules["/nonexistent/venv/.installed-dev"]


def test_make_lock_compiles_both_locks_with_hashes_for_every_platform() -> None:
    compiles = [shlex.split(line) for line in make_dry_run("lock").splitlines() if "uv pip compile" in line]
    outputs = {words[words.index("-o") + 1] for words in compiles}
    assert outputs == {"requirements.lock", "requirements-dev.lock"}
    for words in compiles:
        assert "--generate-hashes" in words and "--universal" in words
        assert words[words.index("--python-version") + 1] == "3.11"
    [dev] = [w for w in compiles if w[w.index("-o") + 1] == "requirements-dev.lock"]
    assert "dev" in dev[dev.index("--extra") + 1 :] and "requirements.lock" in dev


def test_ci_installs_from_the_locks_through_make() -> None:
    """CI installs nothing itself: the make targets it runs install from the
    dev lock, with hashes."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    targets = [line.split()[1] for line in commands if re.fullmatch(r"make [a-z-]+", line)]
    assert "lint" in targets and "test" in targets
    for line in commands:
        if re.search(r"\bpip3?\b.*\binstall\b", line):
            assert "--require-hashes" in line or "--no-deps" in line, line
    for target in targets:
        installs = pip_installs(make_dry_run(target))
        assert ["-r", "requirements-dev.lock"] in [
            w[w.index("-r") : w.index("-r") + 2] for w in installs if "-r" in w
        ]
        assert all("--require-hashes" in w or "--no-deps" in w or w[-1] == "pip" for w in installs), installs


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def test_image_installs_from_the_runtime_lock_with_hashes() -> None:
    steps = dockerfile()
    runs = [(i, args) for i, (instruction, args) in enumerate(steps) if instruction == "RUN"]
    installs = [
        (i, part.strip()) for i, args in runs for part in re.split(r"&&|;", args) if "pip install" in part
    ]
    [(lock_step, lock_install)] = [(i, p) for i, p in installs if "requirements.lock" in p]
    assert "--require-hashes" in shlex.split(lock_install)
    assert "requirements-dev.lock" not in " ".join(args for _, args in steps)
    copied = [
        i
        for i, (instruction, args) in enumerate(steps)
        if instruction == "COPY" and "requirements.lock" in args
    ]
    assert copied and copied[0] < lock_step
    others = [(i, p) for i, p in installs if p != lock_install]
    assert others, "the app itself is not installed"
    for i, part in others:
        assert "--no-deps" in shlex.split(part), f"resolves dependencies outside the lock: {part}"
        assert i > lock_step
