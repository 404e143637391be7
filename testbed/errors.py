"""Exceptions of the testbed.

The testbed stands apart from the control plane and imports nothing from it, so it has its own
small tree::

    TestbedError
     ├── AppSpecError        an application file is invalid (cycle, missing service, bad field)
     ├── QuantityError       a Kubernetes resource quantity cannot be parsed ("12Qx")
     ├── SelectorError       a label or field selector cannot be parsed
     └── PatchError          a patch document is invalid or cannot be applied
"""

from __future__ import annotations


class TestbedError(Exception):
    """Base class of every error the testbed raises on purpose."""

    __test__ = False  # not a pytest test class


class AppSpecError(TestbedError):
    """The application file is invalid; the message names the offending service or field."""


class QuantityError(TestbedError, ValueError):
    """A resource quantity such as ``250m`` or ``1Gi`` is malformed."""


class SelectorError(TestbedError, ValueError):
    """A label selector or field selector is malformed."""


class PatchError(TestbedError):
    """A patch is malformed or cannot be applied.

    ``field`` is the dotted path of the offending field where one is known
    (``spec.replicas``), so the API can answer 422 naming it.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
