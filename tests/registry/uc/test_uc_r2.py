"""Unity Catalog versions kept in Cloudflare R2: ``r2_temp_credentials`` for an
``r2://<bucket>@<account>.r2.cloudflarestorage.com`` location, read through the S3
repository at the account's endpoint (moto's here, through FEDERATE_R2_ENDPOINT_URL)."""

from __future__ import annotations

import pytest

from federate.errors import INVALID_PARAMETER_VALUE
from federate.repos.r2 import R2ArtifactRepository, parse_r2_uri
from federate.testing.errors import raises_federate_error
from federate.testing.s3 import MotoS3
from federate.testing.uc_workspace import R2_ACCOUNT, UcWorkspace

UC = "databricks-uc"
NAME = "main.fraud.detector"


@pytest.fixture
def r2(uc_workspace: UcWorkspace, s3_env: MotoS3, monkeypatch) -> UcWorkspace:
    monkeypatch.setenv("FEDERATE_R2_ENDPOINT_URL", s3_env.endpoint)
    # the caller's own S3 settings are not what R2 is reached by
    monkeypatch.setenv("FEDERATE_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    return uc_workspace


@pytest.mark.parametrize("prefix", ["", "models/abc/versions/def"])
def test_every_uri_form_downloads_the_same_bytes_from_r2(
    r2: UcWorkspace, tree, every_uri_form, prefix
):
    version = r2.publish_r2(NAME, tree, prefix=prefix)
    assert r2.models[NAME].versions[version].storage_location.startswith("r2://")
    every_uri_form(r2, NAME, version, tree)


def test_r2_location_names_the_account_endpoint(monkeypatch):
    monkeypatch.delenv("FEDERATE_R2_ENDPOINT_URL", raising=False)
    host = f"{R2_ACCOUNT}.r2.cloudflarestorage.com"
    assert parse_r2_uri(f"r2://bkt@{host}/a/b/") == ("bkt", host, "a/b")
    repo = R2ArtifactRepository(f"r2://bkt@{host}/a")
    assert repo.settings.endpoint_url == f"https://{host}"
    assert (repo.settings.region, repo.settings.addressing_style) == ("auto", "virtual")


@pytest.mark.parametrize(
    "location",
    ["r2://bkt/a", "r2://bkt@example.com/a", "s3://bkt/a", "r2://@x.r2.cloudflarestorage.com"],
)
def test_malformed_r2_locations(location):
    with raises_federate_error(INVALID_PARAMETER_VALUE, "not an R2 location", repr(location)):
        parse_r2_uri(location)
