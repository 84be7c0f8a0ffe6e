"""Package attributes that load their module on first use (PEP 562).

`lamour --help` lists env names, OOD modes and limits; importing the modules behind them would
start JAX and compile MuJoCo models first (seconds). A package index built with `lazy_exports`
names its heavy attributes without importing them until someone reads one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: attribute `name` comes from the submodule
    `where[name]` (relative to the package), imported when first read."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return __getattr__
