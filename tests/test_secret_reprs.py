"""The reprs a traceback, a debugger or a log line shows of objects that hold secrets."""

from __future__ import annotations

from federate.config import RegistryConfig
from federate.credentials import ScopedCredentials
from federate.plugins.manager import get_plugin_host
from federate.webhooks.delivery import Delivery

PASSWORD = "Hu/nt?er#2x"


def test_registry_config_shows_no_password_and_no_option_values():
    config = RegistryConfig(
        uri=f"postgresql+psycopg://svc:{PASSWORD}@db:5432/reg",
        artifact_root="https://acct.blob.core.windows.net/c/models?sv=1&sig=SASSIG",
        profile="prod",
        options={"uri": "x", "token": "dapi-TOKEN"},
    )
    assert repr(config) == (
        "RegistryConfig(uri='postgresql+psycopg://svc:***@db:5432/reg', "
        "artifact_root='https://acct.blob.core.windows.net/c/models?<redacted>', "
        "profile='prod', source='default', options=['token', 'uri'])"
    )


def test_scoped_credentials_show_their_field_names_only():
    creds = ScopedCredentials("aws_session", {"session_token": "FQoTOKEN", "secret": "S3KRIT"})
    assert "FQoTOKEN" not in repr(creds) and "S3KRIT" not in repr(creds)
    assert "session_token" in repr(creds)


def test_a_repository_shows_its_location_without_password_or_query(federate_home):
    repo = get_plugin_host().open_repo(f"https://bot:{PASSWORD}@files.example.com/m/?tok=QTOKEN")
    assert repr(repo).endswith("('https://bot:***@files.example.com/m/?<redacted>')")


def test_a_webhook_delivery_shows_neither_secret_nor_url():
    delivery = Delivery("wh", "https://hooks.example.com/T/B/PATHTOKEN", "e", "d", b"{}", "WHSEC")
    assert "PATHTOKEN" not in repr(delivery) and "WHSEC" not in repr(delivery)
