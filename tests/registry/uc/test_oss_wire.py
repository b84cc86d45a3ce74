"""The OSS Unity Catalog ``TemporaryCredentials`` answer as federate's scoped credentials,
for each kind of store a server may vend for (and none for a file: location)."""

from __future__ import annotations

import pytest

from federate.registry.uc import oss_wire


@pytest.mark.parametrize(
    "answer, kind, values",
    [
        (
            {
                "aws_temp_credentials": {
                    "access_key_id": "A",
                    "secret_access_key": "S",
                    "session_token": "T",
                }
            },
            "aws_session",
            {"access_key_id": "A", "secret_access_key": "S", "session_token": "T"},
        ),
        (
            {"azure_user_delegation_sas": {"sas_token": "sv=1&sig=x"}},
            "azure_user_delegation_sas",
            {"sas_token": "sv=1&sig=x"},
        ),
        ({"gcp_oauth_token": {"oauth_token": "ya29.x"}}, "gcp_oauth", {"oauth_token": "ya29.x"}),
    ],
)
def test_each_kind_of_vended_credentials_is_read_with_its_expiry(answer, kind, values):
    creds = oss_wire.credentials({**answer, "expiration_time": 1_900_000_000_123, "url": "u"}, "v")
    assert creds is not None
    assert (creds.kind, dict(creds.values), creds.expires_at) == (kind, values, 1_900_000_000.123)
    assert "sig=x" not in repr(creds) and "ya29" not in repr(creds)


def test_an_answer_without_cloud_credentials_is_none():
    assert oss_wire.credentials({"url": "file:///srv/models/m/1"}, "v") is None
    assert oss_wire.credentials({"azure_user_delegation_sas": {}, "url": "u"}, "v") is None
