"""The house: every zoo module imports only downward (no circle), the leaves import no zoo module, and the
model imports neither huggingface_hub nor the checkpoint code."""
import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

ZOO = ROOT / "zoo"
LEAVES = {"layers", "probes", "files", "readme", "data", "precision", "basis", "browser"}


def zoo_imports(path: Path) -> set[str]:
    """The zoo modules a file imports, at the top or inside functions (``from .x import``, ``from . import x``,
    and registry's ``_escnn_module("x")``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_escnn_module":
            found.add(node.args[0].value)
    return found - {path.stem}


def graph() -> dict[str, set[str]]:
    return {p.stem: zoo_imports(p) for p in ZOO.glob("*.py") if p.stem != "__init__"}


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


def test_the_model_is_only_the_network():
    assert graph()["model"] == {"groups", "layers"}
    from zoo.model import EquivariantCNN

    public = {n for n in vars(EquivariantCNN) if not n.startswith("_")}
    assert public == {"min_input_size", "num_classes", "forward", "forward_features", "forward_head",
                      "reset_classifier"}
    code = "import sys, zoo.model; print(sorted(m for m in ('huggingface_hub', 'zoo.checkpoint') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
