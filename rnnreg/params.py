"""How a regularizer's parameters are named outside it: in `--param`, suites, search spaces and result
records a composite's parameter is `part.param` (`embedding.p`), a single regularizer's the bare name; a
parameter named `p` or `p_…` is a dropout probability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_probability(name: str) -> bool:
    return name == "p" or name.startswith("p_")


def param_key(part: str, param: str, composite: bool) -> str:
    """A parameter's name outside its regularizer: `part.param` in a composite, the bare name alone."""
    return f"{part}.{param}" if composite else param


def overrides_of(params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A result's recorded parameters ({part: {param: value}}) as the overrides that build it again."""
    return {param_key(part, key, len(params) > 1): value for part, values in params.items()
            for key, value in values.items()}
