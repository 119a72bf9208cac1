"""The one-way data flow, checked by reading the imports.

features → models → service, and training builds what models loads:
- features imports nothing of ours but features;
- models imports features and models;
- training imports features, models and training;
- service may import all of them.
Inside service, one job per sub-package, and they too import one way (docs/architecture.md):
- service.batch (file scoring engines, the one CSV writer) imports no other sub-package;
- service.store (audit store) imports service.batch only (its CSV reader and atomic file);
- service.web (the page) imports no other sub-package;
- service.api (HTTP) imports batch, store and web;
- service.cli (the command) may import them all; nothing imports service.cli.
No module-level import cycle between our modules, and the serving process does not load
matplotlib, scikit-learn or LightGBM at start-up.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "training", "service")
ALLOWED = {
    "features": {"features"},
    "models": {"features", "models"},
    "training": {"features", "models", "training"},
    "service": {"features", "models", "training", "service"},
}
SERVICE_ALLOWED = {  # the service sub-packages each may import (besides itself)
    "service.batch": set(),
    "service.store": {"service.batch"},
    "service.web": set(),
    "service.api": {"service.batch", "service.store", "service.web"},
    "service.cli": {"service.api", "service.batch", "service.store", "service.web"},
}


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p
            for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, module_level_only: bool) -> set[str]:
    """Our modules imported by `path` (module level only: lazy imports inside functions break no cycle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports are for type checkers only
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def test_nothing_imports_upward() -> None:
    wrong = [(name, imp) for name, path in _modules().items() for imp in _imports(path, module_level_only=False)
             if imp.split(".")[0] not in ALLOWED[name.split(".")[0]]]
    assert wrong == []


def _subpackage(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_service_subpackages_import_one_way() -> None:
    modules = _modules()
    service = {name for name in modules if name.startswith("service.") and name.count(".") >= 1}
    assert {_subpackage(n) for n in service if n.count(".") >= 2} <= set(SERVICE_ALLOWED), \
        "a new service sub-package needs its place in SERVICE_ALLOWED (and in docs/architecture.md)"
    assert {n for n in service if n.count(".") == 1} == {"service.__init__"}, "service/ holds sub-packages, one per job"
    wrong = [(name, imp) for name in sorted(service) for imp in sorted(_imports(modules[name], module_level_only=False))
             if imp.startswith("service.") and _subpackage(imp) != _subpackage(name)
             and _subpackage(imp) not in SERVICE_ALLOWED.get(_subpackage(name), set())]
    assert wrong == []


def test_test_tooling_is_not_in_the_product() -> None:
    assert not (ROOT / "service" / "local_server.py").exists()
    assert not [name for name, path in _modules().items() if "CHROMIUM" in path.read_text(encoding="utf-8")]


def test_no_import_cycle_between_our_modules() -> None:
    modules = _modules()
    graph = {name: {i for i in _imports(path, module_level_only=True) if i in modules} for name, path in modules.items()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, stack + [node])):
                return cycle
        state[node] = 2
        return None

    cycles = [c for n in sorted(graph) if n not in state and (c := visit(n, []))]
    assert cycles == []


def test_the_server_does_not_load_training_libraries() -> None:
    code = ("import sys, service.api.app; "
            "print(','.join(m for m in ('matplotlib', 'sklearn', 'lightgbm', 'training') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
