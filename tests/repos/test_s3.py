"""What is particular to S3: URIs, configuration, credential sources, ETags, multipart."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest

import federate
from federate.credentials import ScopedCredentials
from federate.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from federate.plugins.manager import get_plugin_host
from federate.repos import s3_client
from federate.repos.s3 import MULTIPART_THRESHOLD, PART_SIZE, S3ArtifactRepository, parse_s3_uri
from federate.testing.errors import raises_federate_error
from federate.testing.s3 import MotoS3
from federate.testing.stores import StoreUnderTest


def test_s3_and_s3a_uris_route_to_the_s3_repository():
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_s3_uri("s3a://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://b/key with space/%41?#") == ("b", "key with space/%41?#")
    repo = get_plugin_host().open_repo("s3a://bucket/prefix")
    assert isinstance(repo, S3ArtifactRepository) and repo.prefix == "prefix"
    for bad in ("s3://", "s3:/bucket/key", "s3:///key"):
        with raises_federate_error(INVALID_PARAMETER_VALUE, "s3://<bucket>", case=bad):
            parse_s3_uri(bad)


def test_configuration_from_the_environment(monkeypatch):
    for name in ("AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL", "FEDERATE_S3_ADDRESSING_STYLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws-endpoint")
    monkeypatch.setenv("FEDERATE_S3_ENDPOINT_URL", "http://federate-endpoint")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    settings = s3_client.ClientSettings.from_env()
    assert settings == s3_client.ClientSettings("http://federate-endpoint", "eu-west-3", "path")
    monkeypatch.delenv("FEDERATE_S3_ENDPOINT_URL")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_REGION")
    assert s3_client.ClientSettings.from_env() == s3_client.ClientSettings(
        None, "us-west-2", "auto"
    )
    monkeypatch.setenv("FEDERATE_S3_ADDRESSING_STYLE", "Virtual")
    assert s3_client.ClientSettings.from_env().addressing_style == "virtual"
    monkeypatch.setenv("FEDERATE_S3_ADDRESSING_STYLE", "dns")
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'dns'", "auto, path, virtual"):
        S3ArtifactRepository("s3://bucket/x")


def test_federate_endpoint_wins_over_aws_endpoint(store_s3: StoreUnderTest, monkeypatch):
    store_s3.put("f.txt", b"here")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    assert get_plugin_host().open_repo(store_s3.root).read_range("f.txt", 0, 4) == b"here"
    monkeypatch.setenv("AWS_ENDPOINT_URL", store_s3.env["FEDERATE_S3_ENDPOINT_URL"])
    monkeypatch.delenv("FEDERATE_S3_ENDPOINT_URL")
    assert get_plugin_host().open_repo(store_s3.root).read_range("f.txt", 0, 4) == b"here"


def test_scoped_credentials_of_another_kind_are_refused():
    sas = ScopedCredentials("azure_sas", {"sas_token": "sv=secret"})
    with raises_federate_error(INVALID_PARAMETER_VALUE, "'aws_session'", "'azure_sas'"):
        S3ArtifactRepository("s3://bucket/x", sas)
    partial = ScopedCredentials("aws_session", {"access_key_id": "ASIA1"})
    with raises_federate_error(INVALID_PARAMETER_VALUE, "secret_access_key"):
        S3ArtifactRepository("s3://bucket/x", partial)


def test_wrong_static_keys_name_the_variables_not_their_values(
    store_s3: StoreUnderTest, s3_env: MotoS3, monkeypatch
):
    store_s3.put("f.txt", b"x")
    secret = "wr0ng-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with s3_env.enforcing_auth():
        repo = get_plugin_host().open_repo(store_s3.root)
        with raises_federate_error(
            PERMISSION_DENIED,
            "SignatureDoesNotMatch",
            "static keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            store_s3.env["FEDERATE_S3_ENDPOINT_URL"],
        ):
            repo.read_range("f.txt", 0, 1)
        with pytest.raises(federate.FederateError) as caught:
            repo.walk_files()
        assert secret not in str(caught.value)


def test_no_credentials_at_all_says_how_to_provide_them(store_s3: StoreUnderTest, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with raises_federate_error(PERMISSION_DENIED, "No AWS credentials", "AWS_PROFILE"):
        get_plugin_host().open_repo(store_s3.root).stat("f.txt")


def test_a_missing_bucket_is_named(s3_env: MotoS3, federate_home, tmp_path):
    bucket = f"absent-{uuid.uuid4().hex[:12]}"
    repo = get_plugin_host().open_repo(f"s3://{bucket}/models/m/1")
    for action in (lambda: repo.walk_files(), lambda: repo.stat("MLmodel")):
        with raises_federate_error(RESOURCE_DOES_NOT_EXIST, f"bucket {bucket!r} does not exist"):
            action()
    with raises_federate_error(RESOURCE_DOES_NOT_EXIST, bucket):
        federate.download(f"s3://{bucket}/models/m/1", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_an_unreachable_endpoint_is_temporarily_unavailable(s3_env: MotoS3, monkeypatch):
    monkeypatch.setenv("FEDERATE_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with raises_federate_error(TEMPORARILY_UNAVAILABLE, "Cannot reach S3", "127.0.0.1:9"):
        get_plugin_host().open_repo("s3://bucket/x").stat("f")


def test_throttling_and_server_errors_are_temporarily_unavailable():
    from botocore.exceptions import ClientError

    settings = s3_client.ClientSettings(None, None, "auto")
    for code, status in (("SlowDown", 503), ("InternalError", 500), ("WeirdNew5xx", 502)):
        err = ClientError(
            {
                "Error": {"Code": code, "Message": "busy"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "GetObject",
        )
        mapped = s3_client.map_error(
            err, "read", "s3://b/k", bucket="b", settings=settings, credentials_used="x"
        )
        assert mapped is not None and mapped.error_code == TEMPORARILY_UNAVAILABLE, code


def test_stat_reports_the_etag_as_md5_and_the_stored_checksum(store_s3: StoreUnderTest):
    data = os.urandom(3000)
    store_s3.put("f.bin", data)
    info = get_plugin_host().open_repo(store_s3.root).stat("f.bin")
    assert info.etag == hashlib.md5(data).hexdigest() and info.etag_kind == "md5"
    # botocore sends a CRC32 with every PUT; S3 keeps it and HEAD returns it
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert info.checksum == f"crc32:{crc}"


def test_large_files_go_up_in_parts_and_come_down_in_ranges(store_s3: StoreUnderTest, tmp_path):
    size = MULTIPART_THRESHOLD + 12345
    parts = -(-size // PART_SIZE)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(size))
    repo = get_plugin_host().open_repo(store_s3.root)
    repo.upload_file(str(src), "big/model.bin")
    info = repo.stat("big/model.bin")
    assert (
        info.file_size == size and info.etag_kind == "multipart" and info.etag.endswith(f"-{parts}")
    )
    repo.download_file("big/model.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    listed = {f.path: f for f in repo.walk_files()}
    assert listed["big/model.bin"].etag == info.etag


def test_delete_removes_a_prefix_and_nothing_beside_it(store_s3: StoreUnderTest):
    for key in ("v/1/a", "v/1/d/b", "v/10/c", "v/1"):
        store_s3.put(key, b"x")
    get_plugin_host().open_repo(f"{store_s3.root}/v/1").delete()
    left = get_plugin_host().open_repo(store_s3.root).walk_files()
    assert [f.path for f in left] == ["v/10/c"]


def test_a_root_naming_one_object_downloads_that_file(store_s3: StoreUnderTest, tmp_path):
    store_s3.put("dir/model.pkl", b"pickle")
    out = federate.download(f"{store_s3.root}/dir/model.pkl", str(tmp_path / "model.pkl"))
    assert Path(out).read_bytes() == b"pickle"


def _role_without_permissions(s3_env: MotoS3) -> str:
    iam = s3_env.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    name = f"nothing-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


@pytest.mark.parametrize("expired", [False, True])
def test_access_denied_renews_only_once_the_credentials_have_expired(
    store_s3: StoreUnderTest, s3_env: MotoS3, monkeypatch, expired
):
    store_s3.put("f.txt", b"data")
    # renew only on refusal, never ahead of time, so the refusal path is what is tested
    monkeypatch.setenv("FEDERATE_CREDENTIAL_REFRESH_MARGIN", "-3600")
    with s3_env.enforcing_auth():
        answer = s3_env.client("sts").assume_role(
            RoleArn=_role_without_permissions(s3_env), RoleSessionName="denied"
        )["Credentials"]
        denied = ScopedCredentials(
            "aws_session",
            {
                "access_key_id": answer["AccessKeyId"],
                "secret_access_key": answer["SecretAccessKey"],
                "session_token": answer["SessionToken"],
            },
            expires_at=time.time() + (-1 if expired else 3600),
        )
        issued: list[ScopedCredentials] = []

        def refresh() -> ScopedCredentials:
            issued.append(s3_env.mint())
            return issued[-1]

        repo = get_plugin_host().open_repo(store_s3.root, denied, refresh)
        if expired:
            assert repo.read_range("f.txt", 0, 4) == b"data"
            assert len(issued) == 1
        else:
            with raises_federate_error(PERMISSION_DENIED, "AccessDenied", "scoped credentials"):
                repo.read_range("f.txt", 0, 4)
            assert issued == []


def test_registry_fixture_stores_versions_in_s3(
    s3_registry, store_s3: StoreUnderTest, s3_env: MotoS3, model_tree, tmp_path
):
    mv = federate.register(model_tree, "churn")
    bucket = store_s3.root.removeprefix("s3://")
    keys = {
        obj["Key"]
        for obj in s3_env.client().list_objects_v2(Bucket=bucket, Prefix="models/churn/1/")[
            "Contents"
        ]
    }
    assert "models/churn/1/MLmodel" in keys and "models/churn/1/empty.txt" in keys
    assert mv.storage_location == f"{store_s3.root}/models/churn/1"
    out = federate.download("models:/churn/1", str(tmp_path / "out"))
    assert (tmp_path / "out" / "MLmodel").read_bytes() == (model_tree / "MLmodel").read_bytes()
    assert out == str(tmp_path / "out")


def test_routing_a_local_path_does_not_import_boto3(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    code = (
        "import sys, federate; federate.download(sys.argv[1], sys.argv[2]); "
        "print('boto3' in sys.modules or 'botocore' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "f.txt"), str(tmp_path / "g.txt")],
        capture_output=True,
        text=True,
        env={**os.environ, "FEDERATE_HOME": str(tmp_path / "home")},
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_unequal_parts_download_without_a_false_etag_alarm(
    store_s3: StoreUnderTest, s3_env: MotoS3, tmp_path
):
    mib = 1024 * 1024
    chunks = [os.urandom(6 * mib), os.urandom(10 * mib), b"z"]  # 3 parts, not equal in size
    client, bucket = s3_env.client(), store_s3.root.removeprefix("s3://")
    upload = client.create_multipart_upload(Bucket=bucket, Key="odd.bin")["UploadId"]
    parts = [
        {
            "PartNumber": n,
            "ETag": client.upload_part(
                Bucket=bucket, Key="odd.bin", UploadId=upload, PartNumber=n, Body=chunk
            )["ETag"],
        }
        for n, chunk in enumerate(chunks, 1)
    ]
    client.complete_multipart_upload(
        Bucket=bucket, Key="odd.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    repo = get_plugin_host().open_repo(store_s3.root)
    assert repo.stat("odd.bin").etag_kind == "multipart"
    repo.download_file("odd.bin", str(tmp_path / "odd.bin"))
    assert (tmp_path / "odd.bin").read_bytes() == b"".join(chunks)


def test_a_large_object_with_a_stored_crc32_is_checked_by_it(
    store_s3: StoreUnderTest, s3_env: MotoS3, tmp_path
):
    from boto3.s3.transfer import TransferConfig

    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(MULTIPART_THRESHOLD + 4321))
    # one PUT of the whole object, so S3 keeps a full-object CRC32 of it
    s3_env.client().upload_file(
        str(src),
        store_s3.root.removeprefix("s3://"),
        "crc.bin",
        Config=TransferConfig(multipart_threshold=2 * MULTIPART_THRESHOLD),
    )
    repo = get_plugin_host().open_repo(store_s3.root)
    crc = base64.b64encode(zlib.crc32(src.read_bytes()).to_bytes(4, "big")).decode()
    assert repo.stat("crc.bin").checksum == f"crc32:{crc}"
    repo.download_file("crc.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_a_checksum_of_part_checksums_is_not_taken_for_the_object(
    store_s3: StoreUnderTest, s3_env: MotoS3, tmp_path
):
    from boto3.s3.transfer import TransferConfig

    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(MULTIPART_THRESHOLD + 4321))
    # boto3's own multipart upload: S3 keeps a checksum per part, not one of the object
    s3_env.client().upload_file(
        str(src), store_s3.root.removeprefix("s3://"), "parts.bin", Config=TransferConfig()
    )
    repo = get_plugin_host().open_repo(store_s3.root)
    info = repo.stat("parts.bin")
    assert info.etag_kind == "multipart" and info.checksum is None
    repo.download_file("parts.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_scoped_credentials_never_fall_back_to_the_default_chain(
    store_s3: StoreUnderTest, s3_env: MotoS3
):
    store_s3.put("f.txt", b"x")  # the admin keys in the environment could read this
    with s3_env.enforcing_auth():
        stale = s3_env.mint()
        s3_env.revoke(stale)
        repo = get_plugin_host().open_repo(store_s3.root, stale, lambda: None)
        with raises_federate_error(PERMISSION_DENIED, "no fresh credentials"):
            repo.read_range("f.txt", 0, 1)
        repo = get_plugin_host().open_repo(store_s3.root, stale)  # no way to renew
        with raises_federate_error(PERMISSION_DENIED, "no way to renew"):
            repo.read_range("f.txt", 0, 1)


def test_the_engine_checks_multipart_etags_of_files_it_fetched_in_ranges(
    store_s3: StoreUnderTest, s3_env: MotoS3, tmp_path, monkeypatch
):
    from boto3.s3.transfer import TransferConfig

    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "1MiB")
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", "3MiB")  # not S3's part size, on purpose
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(MULTIPART_THRESHOLD + 4321))
    config = TransferConfig(multipart_chunksize=5 * 1024 * 1024)
    s3_env.client().upload_file(
        str(src), store_s3.root.removeprefix("s3://"), "m/parts.bin", Config=config
    )
    repo = get_plugin_host().open_repo(store_s3.root)
    info = repo.stat("m/parts.bin")
    assert info.etag_kind == "multipart" and info.checksum is None  # only the ETag can tell

    checked = []
    original = S3ArtifactRepository.content_check

    def spy(self, info):
        check = original(self, info)
        checked.append((info.path, type(check).__name__))
        return check

    monkeypatch.setattr(S3ArtifactRepository, "content_check", spy)
    out = federate.download(store_s3.uri("m"), str(tmp_path / "out"))
    assert (Path(out) / "parts.bin").read_bytes() == src.read_bytes()
    # the engine fed what it assembled to the store's multipart-ETag check
    assert checked == [("parts.bin", "MultipartEtagCheck")]

    # the same check on bytes that went wrong in transit
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    check = original(repo, info)
    check.update(memoryview(data)[:1000])
    check.update(memoryview(data)[1000:])  # pieces that do not follow part boundaries
    with raises_federate_error(INTERNAL_ERROR, "arrived corrupted", "multipart ETag"):
        check.verify()
    intact = original(repo, info)
    intact.update(src.read_bytes())
    intact.verify()


@pytest.mark.parametrize("cached", [False, True], ids=["storage-uri", "version-cached"])
@pytest.mark.parametrize("corrupted", [False, True], ids=["intact", "corrupted"])
def test_ranges_that_are_the_objects_parts_are_checked_part_by_part(
    store_s3: StoreUnderTest,
    s3_env: MotoS3,
    fault_proxy,
    federate_home,
    tmp_path,
    monkeypatch,
    corrupted,
    cached,
):
    # the engine's chunk is S3's part size (the usual 8 MiB; 5 MiB here): each range's MD5
    # is taken as it arrives, and the multipart ETag judges them
    from boto3.s3.transfer import TransferConfig

    part = 5 * 1024 * 1024
    monkeypatch.setenv("FEDERATE_MULTIPART_THRESHOLD", "1MiB")
    monkeypatch.setenv("FEDERATE_CHUNK_SIZE", str(part))
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(2 * part + 4321))
    bucket = store_s3.root.removeprefix("s3://")
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part)
    s3_env.client().upload_file(str(src), bucket, "m/parts.bin", Config=config)
    proxy = fault_proxy(s3_env.endpoint)
    monkeypatch.setenv("FEDERATE_S3_ENDPOINT_URL", proxy.url)
    if corrupted:
        proxy.corrupt = lambda path: path.startswith(f"/{bucket}/m/parts.bin")
    dst = tmp_path / "out"
    uri = store_s3.uri("m")
    if cached:  # a version: the cache also takes each file's SHA-256, in order
        from federate.transfer import parts

        fed = []
        both = parts.PartsWithSha256.__init__
        monkeypatch.setattr(
            parts.PartsWithSha256, "__init__", lambda self, *a: fed.append(1) or both(self, *a)
        )
        registry = federate.get_registry()
        registry.create_registered_model("parts")
        registry.create_model_version("parts", uri)
        uri = "models:/parts/1"
    if not corrupted:
        federate.download(uri, str(dst))
        assert (dst / "parts.bin").read_bytes() == src.read_bytes()
        if cached:  # the parts on the workers, the SHA-256 in order; the cache's copy
            assert fed == [1]
            again = Path(federate.download(uri)) / "parts.bin"
            assert again.read_bytes() == src.read_bytes()
        return
    with raises_federate_error(INTERNAL_ERROR, "arrived corrupted", "multipart ETag"):
        federate.download(uri, str(dst))
    assert not dst.exists()


def test_default_chain_clients_are_reused_until_the_credential_environment_changes(
    store_s3: StoreUnderTest, s3_env: MotoS3, monkeypatch
):
    def client(repo):
        return repo._client_for(None)  # the client a read would use

    first = get_plugin_host().open_repo(store_s3.root)
    second = get_plugin_host().open_repo(store_s3.root)
    assert client(first) is client(second)  # ~50 ms of botocore loading saved per download
    store_s3.put("a.txt", b"alpha")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG")
    third = get_plugin_host().open_repo(store_s3.root)
    assert client(third) is not client(first)
    with s3_env.enforcing_auth(), raises_federate_error(PERMISSION_DENIED):
        third.read_range("a.txt", 0, 5)  # the new keys are the ones used
    monkeypatch.setattr(s3_client, "CLIENT_REUSE_S", 0.0)
    assert client(get_plugin_host().open_repo(store_s3.root)) is not client(third)
