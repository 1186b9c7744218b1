"""The house: every zoo module imports only downward (no circle), the leaves import no zoo module, and the
model imports neither huggingface_hub nor the checkpoint code."""
import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

ZOO = ROOT / "zoo"
LEAVES = {"limits", "layers", "probes", "data", "precision", "basis", "dev.browser"}
# just above the leaves: the typed configuration, built on what a checkpoint may hold (limits) alone
NEAR_LEAVES = {"architecture": {"limits"}, "files": {"limits", "architecture"}}


def zoo_imports(path: Path) -> set[str]:
    """The zoo modules a file imports, at the top or inside functions (``from .x import``, ``from . import x``,
    ``from ..x import`` in zoo/cli, and registry's ``_escnn_module("x")``), as names relative to zoo/
    (``checkpoint``, ``cli.common``)."""
    package = list(path.parent.relative_to(ZOO).parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            base = package[:len(package) - (node.level - 1)]
            names = [node.module] if node.module else [a.name for a in node.names]
            found.update(".".join(base + [name]) for name in names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_escnn_module":
            found.add(node.args[0].value)
    own = module_name(path)
    return found - {own, ""}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ZOO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    return {module_name(p): zoo_imports(p) for p in ZOO.rglob("*.py")
            if module_name(p) not in ("", "cli.__main__")}


def test_the_library_never_reaches_up_into_the_command_line():
    library = {name: deps for name, deps in graph().items() if not name.startswith("cli")}
    assert {name: deps for name, deps in library.items() if any(d.split(".")[0] == "cli" for d in deps)} == {}
    sources = {module_name(path): path.read_text() for path in ZOO.rglob("*.py")}
    parsers = [name for name in library if "argparse" in sources[name]]
    assert parsers == [], f"library modules that parse arguments: {parsers}"


def test_no_import_circle():
    edges, order, state = graph(), [], {}

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(edges.get(name, ())):
            assert state.get(dep) != "open", "import circle: " + " -> ".join(path + [name, dep])
            if dep not in state:
                visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for name in sorted(edges):
        if name not in state:
            visit(name, [])
    assert set(order) == set(edges)


def test_leaves_import_no_zoo_module():
    edges = graph()
    assert {leaf: edges[leaf] for leaf in LEAVES if edges[leaf]} == {}
    assert {name: edges[name] for name, allowed in NEAR_LEAVES.items() if not edges[name] <= allowed} == {}


def test_the_model_is_only_the_network():
    assert graph()["model"] == {"architecture", "groups", "layers"}
    from zoo.model import EquivariantCNN

    public = {n for n in vars(EquivariantCNN) if not n.startswith("_")}
    assert public == {"min_input_size", "num_classes", "forward", "forward_features", "forward_head",
                      "forward_intermediates", "get_classifier", "reset_classifier"}
    code = "import sys, zoo.model; print(sorted(m for m in ('huggingface_hub', 'zoo.checkpoint') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_function_in_the_zoo_is_over_80_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in ZOO.rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 80]
    assert long == []
