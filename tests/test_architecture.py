"""The layout: data flows one way (model -> algorithm -> simulation | DMFT -> result -> io ->
runs | plot -> CLI), no module imports a later layer, and there are no import cycles."""

import ast
import subprocess
import sys
from pathlib import Path

import gmmdmft

SRC = Path(gmmdmft.__file__).parent

# layer of each module (by its dotted name below gmmdmft); a module may import its own layer
# and earlier ones only
LAYERS = [
    ("_validation", "_fields", "plugins", "_blas", "_progress", "_backend"),
    ("model",),
    ("schedules", "training", "options"),
    ("result", "simulation", "dmft", "finitesize"),
    ("io",),
    ("runs", "plot"),
    ("cli", "__main__"),
]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"module {module!r} is in no layer of this test: add it")


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            yield ".".join(parts), path


def imports_of(name: str, path: Path) -> set[str]:
    """gmmdmft modules imported by ``name`` (at any depth of the file: deferred imports count)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("gmmdmft"):
                target = node.module[len("gmmdmft."):] if node.module != "gmmdmft" else ""
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if (SRC / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (SRC / sub.replace(".", "/")).is_dir() else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gmmdmft."):
                    found.add(alias.name[len("gmmdmft."):])
    return {m for m in found if m}


def test_no_module_imports_a_later_layer():
    bad = []
    for name, path in modules():
        for target in imports_of(name, path):
            if layer_of(target) > layer_of(name):
                bad.append(f"{name} imports {target}")
    assert not bad, bad


def test_no_import_cycles():
    graph = {name: {t for t in imports_of(name, path)} for name, path in modules()}
    # a package's __init__ re-exporting its own submodules is not a cycle of the layout
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            nxt = nxt if nxt in graph else nxt.rsplit(".", 1)[0]
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])


def test_numerics_import_no_io_runs_plot_cli_dask_or_matplotlib():
    code = (
        "import sys, gmmdmft, gmmdmft.model, gmmdmft.dmft, gmmdmft.dmft.exact, gmmdmft.simulation\n"
        "bad = ('gmmdmft.io', 'gmmdmft.runs', 'gmmdmft.plot', 'gmmdmft.cli', 'matplotlib',"
        " 'dask', 'click')\n"
        "print(sorted(k for k in sys.modules if k.startswith(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
