"""Every third-party module the product imports comes from a runtime dependency in pyproject.toml.

Tests run with the dev extras installed, so a product module importing a dev-only package (httpx did,
for the services' health checks) passes every test and fails `scripts/run.sh` on a fresh machine.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("schemas", "producers", "processors", "projections", "watchman")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports() -> dict[str, str]:
    """Top-level module -> a file importing it, for every import in the product's packages."""
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_product_imports_only_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    # What the runtime dependencies bring with them (pydantic -> pydantic-core) may be imported too.
    for dist in list(runtime):
        runtime |= {_name(r) for r in requires(dist) or () if "extra ==" not in r}
    providers = packages_distributions()
    missing = {}
    for module, where in _imports().items():
        if module in sys.stdlib_module_names or module in PRODUCT:
            continue
        dists = {_name(d) for d in providers.get(module, [])}
        assert dists, f"{module} (imported by {where}) is not installed"
        if not dists & runtime:
            missing[module] = (where, sorted(dists))
    assert not missing, f"imported by the product but not a runtime dependency: {missing}"
