"""Names → loss classes: how `--loss gce` on the command line finds its loss (timm-style)."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from mislabel.exceptions import InvalidParameterError

__all__ = ["available", "get", "get_class", "register"]

_REGISTRY: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: register a loss class under ``name``; a name is taken only once.

    Example::

        @register("my_loss")
        class MyLoss(LossBase): ...
    """
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise InvalidParameterError(
            f"`name` must be a lower-case identifier such as 'gce'; got {name!r}."
        )

    def deco(cls: T) -> T:
        if name in _REGISTRY:
            raise InvalidParameterError(
                f"`name` {name!r} is already registered to {_REGISTRY[name].__qualname__}; "
                f"pick another name for {cls.__qualname__}."
            )
        _REGISTRY[name] = cls
        return cls

    return deco


def available() -> list[str]:
    """The registered loss names, sorted."""
    return sorted(_REGISTRY)


def get_class(name: str) -> type:
    """The loss class registered under ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidParameterError(
            f"`name` must be a registered loss, one of {', '.join(available())}; got "
            f"{name!r}.{hint}"
        ) from None


def get(name: str, **kwargs: Any) -> Any:
    """Build the loss registered under ``name`` with ``kwargs``.

    Example::

        loss = mislabel.losses.get("gce", q=0.7)
    """
    cls = get_class(name)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        params = ", ".join(
            p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")
        )
        raise InvalidParameterError(
            f"loss {name!r} ({cls.__name__}) cannot take these arguments: {exc}. Its "
            f"parameters are: {params}."
        ) from None
    return cls(**kwargs)
