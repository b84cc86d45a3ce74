"""A store whose SDK is not installed: the same error code for every store, naming the extra."""

from __future__ import annotations

import pytest

from federate.testing.cli import run_federate

# imported at interpreter start-up (before federate), it makes the cloud SDKs uninstallable
_BLOCKER = """
import importlib.abc
import sys

_BLOCKED = ("boto3", "botocore", "google.cloud.storage", "azure.storage.blob")


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in _BLOCKED):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


@pytest.fixture
def no_sdks(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_BLOCKER)
    return site


@pytest.mark.parametrize(
    ("location", "extra", "package"),
    [
        ("s3://bucket/model", "s3", "boto3"),
        ("gs://bucket/model", "gcs", "google-cloud-storage"),
        ("wasbs://models@account.blob.core.windows.net/model", "azure", "azure-storage-blob"),
    ],
)
def test_a_missing_sdk_is_one_code_naming_the_extra(
    no_sdks, federate_home, tmp_path, location, extra, package
):
    env = {"FEDERATE_HOME": str(federate_home)}
    for args in (["ls", location], ["download", location, str(tmp_path / "dst")]):
        res = run_federate(*args, sites=[no_sdks], env=env)
        assert res.returncode == 1, res.stderr
        assert res.stderr.rstrip("\n").endswith("[INVALID_PARAMETER_VALUE]"), res.stderr
        assert f"pip install 'federate[{extra}]'" in res.stderr
        assert package in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "dst").exists()
