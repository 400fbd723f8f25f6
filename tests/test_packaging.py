"""What ``pip install .`` ships and whether the installed copy starts.

The wheel is built from a copy of the checkout (so the build leaves nothing in it) with the
setuptools of this environment, offline. It holds the package and its resources, and neither the
benchmarks (bench/, run from a checkout) nor the tests. Installed into a fresh virtual environment,
away from the checkout, the server's and the desktop app's ``--help`` print and exit 0, the app's
without any display. That environment borrows the dependencies of this one through a .pth file
(a plain path line: this environment's own .pth files, its editable gochat among them, stay
unread), so the test needs no network and takes seconds, not a download of PySide6.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import gochat

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = REPOSITORY / "gochat"
# What the build does not need and should not see: a checkout's caches, virtual environments,
# build output and test results.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "bench-results",
    "test-artifacts",
    "*.sqlite3",
    "*.db",
)
DIST = f"gochat-{gochat.__version__}"


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``command``, which must succeed: its output."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "gochat"
    shutil.copytree(REPOSITORY, source, ignore=NOT_COPIED)
    output = tmp_path_factory.mktemp("wheel")
    run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"),
            *("--wheel-dir", str(output), str(source)),
        ]
    )
    [built] = output.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed: its python."""
    target = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(target)])
    python = target / "bin" / "python"
    site_packages = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    borrowed = dict.fromkeys(sysconfig.get_paths()[kind] for kind in ("purelib", "platlib"))
    (Path(site_packages.strip()) / "borrowed-dependencies.pth").write_text("\n".join(borrowed) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])
    return python


def run_installed(command: list[str], folder: Path) -> str:
    """Run in an empty folder, with no display and nothing pointing back at the checkout."""
    unset = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHONPATH", "GOCHAT_RESOURCES")
    return run(command, cwd=folder, env={k: v for k, v in os.environ.items() if k not in unset})


def test_the_wheel_holds_the_package_and_its_resources_and_no_bench_or_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {name.split("/")[0] for name in names} == {"gochat", f"{DIST}.data", f"{DIST}.dist-info"}
    # Every module of the package, and nothing else under gochat/.
    expected = {path.relative_to(REPOSITORY).as_posix() for path in PACKAGE.rglob("*.py")}
    assert {name for name in names if name.startswith("gochat/")} == expected
    for module in ("gochat/protocol.py", "gochat/server/__main__.py", "gochat/desktop/__main__.py"):
        assert module in names
    resources = f"{DIST}.data/data/share/gochat/resources"
    assert {name for name in names if name.startswith(f"{DIST}.data/")} == {
        f"{resources}/style.qss",
        f"{resources}/icons/gochat.svg",
    }
    for name in names:
        parts = name.split("/")
        assert not {"bench", "tests"} & set(parts), name
        assert not parts[-1].startswith(("bench", "test_", "reference_server", "conftest")), name
    assert zipfile.ZipFile(wheel).read(f"{DIST}.dist-info/top_level.txt").decode().split() == ["gochat"]


def test_the_package_imports_nothing_from_the_bench_or_the_tests() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            assert not [n for n in names if n.split(".")[0] in ("bench", "tests")], (path, names)


def test_the_installed_copy_runs_from_the_environment_and_finds_its_resources(installed: Path, tmp_path: Path) -> None:
    environment = installed.parents[1]
    found = run_installed(
        [
            str(installed),
            "-c",
            "import gochat; print(gochat.__file__); "
            "from gochat.desktop.resources import resources_dir; print(resources_dir())",
        ],
        tmp_path,
    ).split("\n")
    assert Path(found[0]).is_relative_to(environment)  # not the checkout's copy
    assert Path(found[1]) == environment / "share" / "gochat" / "resources"
    # pip made the scripts of [project.scripts] and [project.gui-scripts].
    assert (environment / "bin" / "gochat-server").is_file()
    assert (environment / "bin" / "gochat").is_file()


def test_the_installed_server_prints_its_usage(installed: Path, tmp_path: Path) -> None:
    usage = run_installed([str(installed), "-m", "gochat.server", "--help"], tmp_path)
    assert usage.startswith("usage: gochat-server"), usage
    assert "--database-url" in usage


def test_the_installed_desktop_app_prints_its_usage_without_a_display(installed: Path, tmp_path: Path) -> None:
    usage = run_installed([str(installed), "-m", "gochat.desktop", "--help"], tmp_path)
    assert usage.startswith("usage: gochat [-h]"), usage
    assert "QT_QPA_PLATFORM" in usage
