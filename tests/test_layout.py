"""The house: what installs, under which names, and which package may import which.

The folders ``indicator/``, ``charts/`` and ``feeds/`` sit at the top of the repository but
install as ``liqlevels.indicator``, ``liqlevels.charts`` and ``liqlevels.feeds``. A bare
``import indicator`` run from the repository root would find the folder as a second, separate
module (its own classes, its own warnings), so nothing may import the bare names.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import liqlevels

ROOT = Path(__file__).resolve().parents[1]
BARE = ("indicator", "charts", "feeds")
PACKAGES = {"indicator": "indicator", "charts": "charts", "feeds": "feeds",
            "liqlevels": "liqlevels"}


def _python_files() -> list[Path]:
    skip = {".git", "build", "dist", "node_modules", ".venv", "venv"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def _imports(path: Path) -> list[tuple[int, int, str]]:
    """``(line, level, module)`` of every import in ``path``; ``import a, b`` gives two."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, 0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found.append((node.lineno, node.level, module))
            if node.level and not module:  # from .. import indicator
                found += [(node.lineno, node.level, alias.name) for alias in node.names]
    return sorted(found)


def _bare_imports(path: Path) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line}: {module}"
            for line, level, module in _imports(path)
            if level == 0 and module.split(".")[0] in BARE]


def test_the_scan_sees_a_bare_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nif True:\n    from charts import Scene\nimport feeds.x, json\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _bare_imports(sample) == ["sample.py:3: charts", "sample.py:4: feeds.x"]


def test_no_code_or_test_imports_the_bare_package_names() -> None:
    offenders = [hit for path in _python_files() for hit in _bare_imports(path)]
    assert offenders == [], "use liqlevels.indicator/.charts/.feeds:\n" + "\n".join(offenders)


def test_docs_and_readme_use_the_installed_names() -> None:
    pattern = re.compile(r"^\s*(?:>>> )?(?:import|from) (indicator|charts|feeds)\b", re.M)
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    offenders = [f"{page.relative_to(ROOT)}: {m.group(0).strip()}"
                 for page in pages for m in pattern.finditer(page.read_text(encoding="utf-8"))]
    assert offenders == [], "\n".join(offenders)


def _resolve(path: Path, level: int, module: str) -> str:
    """The absolute installed name an import in ``path`` refers to."""
    if level == 0:
        return module
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = ["liqlevels"] if parts[0] == "liqlevels" else ["liqlevels", parts[0]]
    package += list(parts[1:-1])
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _package_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "liqlevels":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in BARE else "liqlevels"


def test_no_package_imports_another_packages_private_module() -> None:
    offenders = []
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            own = "liqlevels" if folder == "liqlevels" else folder
            for line, level, module in _imports(path):
                name = _resolve(path, level, module)
                other = _package_of(name)
                private = any(part.startswith("_") for part in name.split(".")[1:])
                if other is not None and other != own and private:
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offenders == [], "import the public name instead:\n" + "\n".join(offenders)


def test_indicator_stays_pure() -> None:
    """indicator imports neither ccxt nor the charts, the feeds or the application."""
    banned = {"ccxt", "lightweight_charts", "playwright", "webview", "liqlevels.feeds",
              "liqlevels.charts", "liqlevels._app", "liqlevels._mapping", "liqlevels.cli"}
    offenders = []
    for path in sorted((ROOT / "indicator").rglob("*.py")):
        for line, level, module in _imports(path):
            name = _resolve(path, level, module)
            if any(name == b or name.startswith(b + ".") for b in banned):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offenders == [], "\n".join(offenders)


def test_importing_the_engine_pulls_in_no_exchange_or_chart_code() -> None:
    code = ("import sys, liqlevels.indicator; "
            "print(sorted(m for m in ('ccxt', 'lightweight_charts', 'liqlevels.charts', "
            "'liqlevels.feeds', 'indicator', 'charts', 'feeds') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_version_is_exposed() -> None:
    from importlib.metadata import version

    assert liqlevels.__version__ == version("liqlevels")
    from liqlevels.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0


def test_version_on_the_command_line() -> None:
    out = subprocess.run([sys.executable, "-P", "-m", "liqlevels.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"liqlevels {liqlevels.__version__}"


def test_lazy_names_of_the_top_package() -> None:
    from liqlevels import HistoricalMapping, charts, feeds, indicator

    assert indicator.__name__ == "liqlevels.indicator" and charts.__name__ == "liqlevels.charts"
    assert feeds.__name__ == "liqlevels.feeds" and HistoricalMapping.__name__ == "HistoricalMapping"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        liqlevels.nothing  # noqa: B018


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in PACKAGES:
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{build.stderr[-2000:]}")
    (path,) = out.glob("liqlevels-*.whl")
    return path


def test_the_wheel_installs_only_liqlevels(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"liqlevels"}
    for package in ("indicator", "charts", "feeds"):
        assert f"liqlevels/{package}/__init__.py" in names
    assert "liqlevels/charts/js/liqlevels.js" in names  # the bundled chart code comes along
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def _release(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_the_ci_minimums_pin_exactly_what_pyproject_declares() -> None:
    import tomllib

    declared = {}
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, low = dep.partition(">=")
        assert low, f"{dep!r}: declare a lower bound (>=) so the minimum pass can prove it"
        declared[name.strip().lower()] = _release(low)
    pinned = {}
    for line in (ROOT / ".ci" / "minimums.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[name.strip().lower()] = _release(version)
    assert pinned == declared
