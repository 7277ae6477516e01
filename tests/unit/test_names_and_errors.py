"""One error base per part, and names that say one thing: no two classes, and no two modules (besides the
package files and the two quality modules of the quality report and its command), share a name."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections import Counter

import pytest

from classifier_fn.function_error import FunctionError
from gourmetgram.base_error import GourmetGramError
from gourmetgram_tools.tool_error import ToolError
from ingest.frontend_error import FrontendError
from minio_config.config_error import MinioConfigError
from tests.conftest import ROOT

BASES = {
    "gourmetgram": GourmetGramError,
    "classifier_fn": FunctionError,
    "ingest": FrontendError,
    "minio_config": MinioConfigError,
    "gourmetgram_tools": ToolError,
}
# Module names that may repeat: the package files.
SHARED_MODULE_NAMES = {"__init__.py", "__main__.py"}


def product_modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    found = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
    return [package] + [name for name in found if not name.endswith(".__main__")]  # __main__ runs the CLI


@pytest.mark.parametrize("package", BASES)
def test_every_error_a_part_defines_derives_from_its_part_s_base(package):
    base, found = BASES[package], []
    for name in product_modules(package):
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == name:
                found.append(cls)
    assert found, package
    strays = {f"{c.__module__}.{c.__qualname__}" for c in found if not issubclass(c, base)}
    assert not strays, f"derive these from {base.__name__}: {sorted(strays)}"
    assert all(issubclass(base, GourmetGramError) for base in BASES.values())


def test_no_two_classes_share_a_name():
    names = Counter()
    for package in BASES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    names[node.name] += 1
    assert not [n for n, count in names.items() if count > 1]


def test_no_two_modules_share_a_name():
    names = Counter(p.name for package in BASES for p in (ROOT / package).rglob("*.py"))
    assert not [n for n, count in names.items() if count > 1 and n not in SHARED_MODULE_NAMES]
