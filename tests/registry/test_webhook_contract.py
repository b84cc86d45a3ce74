"""A registry plugin that keeps no webhooks says so, with NOT_IMPLEMENTED, for all six calls."""

from __future__ import annotations

import pytest

from federate.config import RegistryConfig
from federate.errors import NOT_IMPLEMENTED
from federate.registry.base import Registry
from federate.testing.errors import raises_federate_error


class NoWebhooks(Registry):
    """The smallest read-only registry: every abstract read left unimplemented."""


NoWebhooks.__abstractmethods__ = frozenset()


@pytest.mark.parametrize(
    "call, args",
    [
        ("create_webhook", ("h", "http://h/x", ["prompt.created"])),
        ("get_webhook", ("id",)),
        ("list_webhooks", ()),
        ("update_webhook", ("id",)),
        ("delete_webhook", ("id",)),
        ("test_webhook", ("id",)),
    ],
)
def test_webhook_calls_are_not_implemented_by_default(call, args):
    registry = NoWebhooks(RegistryConfig(uri="memo://x", artifact_root="/tmp/x"))
    with raises_federate_error(NOT_IMPLEMENTED, "NoWebhooks does not support webhooks", call):
        getattr(registry, call)(*args)
