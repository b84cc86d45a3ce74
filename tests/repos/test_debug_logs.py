"""Downloads with scoped credentials, logging at DEBUG everywhere: the S3 session token and
secret key, SAS signatures and presigned URL signatures reach no log record and no
handler's output, while urllib3, botocore and the Azure SDK did log the requests."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from federate.credentials import ScopedCredentials
from federate.testing.logs import debug_logs
from federate.testing.stores import StoreUnderTest
from federate.transfer import download

# what an SDK signs with or sends as proof, wherever it sits in a credential's values
_PROOF = re.compile(r"(?i)(?:sig|signature|security-token|credential)=([^&\s\"'<>]+)")
MiB = 1024 * 1024


def proofs(store: StoreUnderTest, credentials: ScopedCredentials) -> list[str]:
    assert store.scoped is not None
    found = list(store.scoped.secrets(credentials))
    for value in credentials.values.values():
        found += [unquote(v) for v in _PROOF.findall(str(value))]
    return [s for s in found if len(s) >= 8]


@pytest.fixture(params=["s3", "azure", "presigned"])
def scoped_store(request: pytest.FixtureRequest) -> StoreUnderTest:
    return request.getfixturevalue(f"store_{request.param}")


@pytest.mark.usefixtures("small_ranges")
def test_scoped_downloads_log_no_secret_at_debug(scoped_store, federate_home, tmp_path):
    store = scoped_store
    assert store.scoped is not None
    payload = bytes(range(256)) * (5 * MiB // 256)  # several ranged reads
    store.put("model/weights.bin", payload)
    store.put("model/MLmodel", b"flavors: {}\n")
    credentials = store.scoped.mint()
    secrets = proofs(store, credentials)
    assert secrets, "the credentials hold something secret to look for"

    with debug_logs() as logs:
        repo = store.open_repo(credentials, store.scoped.mint)
        dst = download(repo, tmp_path / "dst")

    assert (tmp_path / "dst" / "model" / "weights.bin").read_bytes() == payload
    assert dst == str(tmp_path / "dst")
    logs.assert_hidden(secrets)
    assert logs.count("urllib3") >= 3  # the request lines were logged, redacted
    if store.name == "s3":
        assert logs.count("botocore") > 0
        assert not re.search(r"Signature=[0-9a-f]{64}", logs.text.getvalue())
    if store.name == "azure":
        assert logs.count("azure") > 0
