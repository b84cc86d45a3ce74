"""What a webhook may be: its URL, events, name, status and secret.

Every check raises ``FederateError(INVALID_PARAMETER_VALUE)`` naming the bad value and
what is accepted, so the message alone tells a user how to fix the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from federate.entities import WEBHOOK_ACTIVE, WEBHOOK_DISABLED, WebhookEvent
from federate.errors import INVALID_PARAMETER_VALUE, FederateError, redact

ACCEPTED_SCHEMES = ("http", "https")
STATUSES = (WEBHOOK_ACTIVE, WEBHOOK_DISABLED)
EVENT_NAMES = tuple(event.value for event in WebhookEvent)
MAX_URL_LENGTH = 4096
MAX_NAME_LENGTH = 256
MAX_SECRET_LENGTH = 1024


def _invalid(message: str) -> FederateError:
    return FederateError(message, INVALID_PARAMETER_VALUE)


def check_url(url: object) -> str:
    """An absolute http(s) URL with a host; its query string never appears in messages."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid(f"A webhook URL must be a non-empty string, got {url!r}")
    shown = redact(url)
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"Webhook URL {shown!r} is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _invalid(f"Webhook URL {shown!r} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as err:
        raise _invalid(f"Webhook URL {shown!r} is not a valid URL: {err}") from None
    if parts.scheme.lower() not in ACCEPTED_SCHEMES:
        raise _invalid(
            f"Invalid webhook URL {shown!r}: scheme {parts.scheme or '(none)'!r} is not "
            f"supported; use one of {', '.join(s + '://' for s in ACCEPTED_SCHEMES)}"
        )
    if not parts.hostname:
        raise _invalid(f"Invalid webhook URL {shown!r}: it has no host")
    return url


def check_event(event: object) -> WebhookEvent:
    """A known event, given as a :class:`WebhookEvent` or its wire name."""
    if isinstance(event, WebhookEvent):
        return event
    try:
        return WebhookEvent(event)
    except ValueError:
        raise _invalid(
            f"Unknown webhook event {event!r}; accepted events are {', '.join(EVENT_NAMES)}"
        ) from None


def check_events(events: object) -> tuple[WebhookEvent, ...]:
    """One or more known events, duplicates dropped, first-seen order kept."""
    if isinstance(events, (str, WebhookEvent)) or not isinstance(events, Iterable):
        raise _invalid(
            f"events must be a list of event names, got {events!r}; accepted events are "
            f"{', '.join(EVENT_NAMES)}"
        )
    checked = tuple(dict.fromkeys(check_event(event) for event in events))
    if not checked:
        raise _invalid(
            f"A webhook needs at least one event; accepted events are {', '.join(EVENT_NAMES)}"
        )
    return checked


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _invalid(f"A webhook name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise _invalid(f"Webhook name is longer than {MAX_NAME_LENGTH} characters")
    return name


def check_status(status: object) -> str:
    if not isinstance(status, str) or status.upper() not in STATUSES:
        raise _invalid(f"Invalid webhook status {status!r}; use one of {', '.join(STATUSES)}")
    return status.upper()


def check_secret(secret: object) -> str | None:
    """None or "" (deliveries go unsigned), or a secret; never echoed in messages."""
    if secret is None or secret == "":
        return None
    if not isinstance(secret, str):
        raise _invalid(f"A webhook secret must be a string, not {type(secret).__name__}")
    if len(secret) > MAX_SECRET_LENGTH:
        raise _invalid(f"A webhook secret may be at most {MAX_SECRET_LENGTH} characters")
    return secret


def check_description(description: object) -> str | None:
    if description is not None and not isinstance(description, str):
        raise _invalid(f"A webhook description must be a string, got {description!r}")
    return description
