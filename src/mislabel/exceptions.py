"""The error family of :mod:`mislabel`.

Every error the library raises on purpose derives from :class:`MislabelError`, so callers
can catch the whole family at once, and each also derives from the builtin that Python users
already expect (``ValueError``, ``ImportError``, ...)::

    MislabelError
    ├── InvalidInputError        (also ValueError)   data passed in is malformed
    ├── InvalidParameterError    (also ValueError)   a setting / hyper-parameter is wrong
    ├── NotFittedError           (also ValueError, AttributeError)
    └── MissingDependencyError   (also ImportError)  an optional extra is not installed

Messages share one shape: name the input, say what was expected, what came, and how to fix it:
"`pred_probs` must have shape (n_samples, n_classes) = (1000, 10); got (1000, 9). Did you drop
a class column?"
"""

from __future__ import annotations

__all__ = [
    "InvalidInputError",
    "InvalidParameterError",
    "MislabelError",
    "MissingDependencyError",
    "NotFittedError",
]


class MislabelError(Exception):
    """Base class of every error raised on purpose by mislabel."""


class InvalidInputError(MislabelError, ValueError):
    """Data given to a function (labels, pred_probs, a file) is malformed."""


class InvalidParameterError(MislabelError, ValueError):
    """A setting or hyper-parameter is outside its allowed values."""


class NotFittedError(MislabelError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""


class MissingDependencyError(MislabelError, ImportError):
    """An optional dependency is needed; the message says which extra to install."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"`{package}` is required{what} but could not be imported. "
            f"Install it with: pip install 'mislabel[{extra}]'"
        )
        self.package = package
        self.extra = extra
