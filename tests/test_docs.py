"""The documentation: its Python examples run, and the site builds with no warning.

Every fenced block opened by ```` ```python ```` in docs/ is run, page by page in the order of
the page, all blocks of a page in one namespace (as cells of a notebook), in a fresh working
directory that is also on ``sys.path``. A block whose fence carries ``title="NAME.py"`` is a
file the page shows: it is written to that directory under its name instead (so that an import
path "NAME:attr" finds it). Blocks fenced as ``sh``, ``toml``, ``text`` ... are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
TITLE = re.compile(r'title="([^"]+)"')
# pages whose examples need an optional package: skipped (with the reason) without it
REQUIRES = {"howto/gpu.md": ("torch",)}


def python_blocks(page: Path) -> list[tuple[str | None, str]]:
    """(file name or None, code) of every ```python block of ``page``, in order."""
    out = []
    for m in FENCE.finditer(page.read_text(encoding="utf-8")):
        title = TITLE.search(m.group(1))
        out.append((title.group(1) if title else None, m.group(2)))
    return out


def pages_with_examples() -> list[str]:
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if python_blocks(p))


def run_page(page: Path, workdir: Path) -> None:
    """Run the examples of ``page`` in ``workdir`` (see the module docstring)."""
    namespace: dict = {"__name__": "__main__"}
    for i, (title, code) in enumerate(python_blocks(page)):
        if title is not None:
            (workdir / title).write_text(code, encoding="utf-8")
            continue
        try:
            exec(compile(code, f"{page.name}[block {i + 1}]", "exec"), namespace)
        except Exception as e:  # name the page and the block, keep the traceback
            raise AssertionError(f"{page.relative_to(DOCS)}, block {i + 1} failed: "
                                 f"{type(e).__name__}: {e}\n{code}") from e


@pytest.mark.parametrize("name", pages_with_examples())
def test_examples_run(name, tmp_path, monkeypatch):
    for module in REQUIRES.get(name, ()):
        pytest.importorskip(module)
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    try:
        run_page(DOCS / name, tmp_path)
    finally:
        plt.close("all")
        for module in set(sys.modules) - before:  # the page's own modules (plug-ins)
            if getattr(sys.modules[module], "__file__", None) and \
                    str(tmp_path) in str(sys.modules[module].__file__):
                del sys.modules[module]


def test_every_page_with_examples_is_found():
    # the tutorial and the how-to pages carry examples: a broken fence would silently drop them
    names = pages_with_examples()
    for page in ("tutorial.md", "results.md", "faq.md", "howto/custom-model.md"):
        assert page in names, page


def test_site_builds_strictly(tmp_path):
    """``python -m mkdocs build --strict``: any warning (a broken link, a docstring that does
    not parse, a missing page) fails the build."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    pytest.importorskip("mkdocs_click")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not re.search(r"^(WARNING|ERROR)\b", proc.stderr, re.M), proc.stderr[-4000:]
    site = tmp_path / "site"
    for page in ("index.html", "tutorial/index.html", "cli/index.html",
                 "api/gmmdmft/index.html", "theory/index.html"):
        assert (site / page).is_file(), page
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "gmmdmft simulate" in cli and "--t-max" in cli  # generated from the commands
    api = (site / "api" / "result" / "index.html").read_text(encoding="utf-8")
    assert "to_pandas" in api and "read_result" in (site / "api" / "io" / "index.html").read_text(
        encoding="utf-8")
