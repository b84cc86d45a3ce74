"""Model registries: where model and prompt versions are recorded and resolved."""

from federate.registry.base import Registry

__all__ = ["Registry"]
