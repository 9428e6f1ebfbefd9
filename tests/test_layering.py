"""Guard tests: the rule of direction in DESIGN.md, and every `__all__` naming what a module really exports."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level imports it must never make
FORBIDDEN = {
    "k2": {"streamlit", "sqlmodel", "sqlalchemy", "pandas", "merchant", "k2sim", "plotly"},
    "k2sim": {"k2", "merchant", "streamlit", "sqlmodel", "sqlalchemy"},
    "merchant": {"streamlit", "plotly"},
    "pages": {"k2", "k2sim", "httpx", "sqlmodel", "sqlalchemy", "sqlite3"},
    # the UI's entry point and shared helpers: no HTTP and no SQL either (an Engine type is not SQL)
    "streamlit_app.py": {"k2", "k2sim", "httpx", "sqlmodel", "sqlite3"},
    "ui": {"k2", "k2sim", "httpx", "sqlmodel", "sqlite3"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


SOURCES = [
    pytest.param(package, path, id=str(path.relative_to(ROOT)))
    for package in FORBIDDEN
    for path in ([ROOT / package] if package.endswith(".py") else sorted((ROOT / package).rglob("*.py")))
]


@pytest.mark.parametrize(("package", "path"), SOURCES)
def test_imports_follow_the_rule_of_direction(package: str, path: Path) -> None:
    wrong = imported_roots(path) & FORBIDDEN[package]
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}, which {package} must not"


def all_modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not info.name.rsplit(".", 1)[-1] == "__main__":
            names.append(info.name)
    return names


MODULES = [name for package in ("k2", "k2sim", "merchant", "ui") if (ROOT / package).is_dir() for name in all_modules(package)]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_public_definitions_are_listed(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    defined_here = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_")
        and getattr(value, "__module__", None) == name
        and callable(value)
    }
    unlisted = sorted(defined_here - set(exported))
    assert not unlisted, f"{name} defines public {unlisted} but leaves them out of __all__"
