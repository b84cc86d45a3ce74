"""federate.testing.sts_session_policies: moto refuses what a session policy does not
allow, inside the context only, and leaves other keys and policy-less sessions alone."""

from __future__ import annotations

import json
import uuid

import pytest

from federate.testing.s3 import add_role
from federate.testing.sts_session_policies import enforcing_session_policies

pytest.importorskip("boto3")


def _session(moto, role: str, policy: dict | None = None):
    """An S3 client signed with a fresh session of ``role``."""
    extra = {"Policy": json.dumps(policy)} if policy is not None else {}
    answer = moto.client("sts").assume_role(
        RoleArn=role, RoleSessionName=f"t-{uuid.uuid4().hex[:8]}", **extra
    )["Credentials"]
    return moto.client(
        aws_access_key_id=answer["AccessKeyId"],
        aws_secret_access_key=answer["SecretAccessKey"],
        aws_session_token=answer["SessionToken"],
    )


def _code(call) -> tuple[str, int]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def bucket(s3_env, s3_bucket):
    admin = s3_env.client()
    admin.put_object(Bucket=s3_bucket, Key="a/x", Body=b"in a")
    admin.put_object(Bucket=s3_bucket, Key="b/x", Body=b"in b")
    return s3_bucket


def test_without_a_session_policy_the_role_alone_decides(s3_env, bucket):
    """The reader role may get any object and not put one: so may its policy-less session."""
    reader = _session(s3_env, s3_env.reader_role_arn)
    with enforcing_session_policies():
        assert reader.get_object(Bucket=bucket, Key="b/x")["Body"].read() == b"in b"
        assert reader.get_object(Bucket=bucket, Key="a/x")["Body"].read() == b"in a"
        put = lambda: reader.put_object(Bucket=bucket, Key="a/y", Body=b"y")  # noqa: E731
        assert _code(put) == ("AccessDenied", 403)


def test_a_session_policy_narrows_the_role_and_an_explicit_deny_wins(s3_env, bucket):
    role = add_role(s3_env.client("iam"), f"federate-all-{uuid.uuid4().hex[:8]}", ["s3:*"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/a/*",
            },
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
        ],
    }
    narrowed = _session(s3_env, role, policy)
    with enforcing_session_policies():
        assert narrowed.get_object(Bucket=bucket, Key="a/x")["Body"].read() == b"in a"
        # HEAD: moto's s3:HeadObject, which AWS authorizes as s3:GetObject
        assert narrowed.head_object(Bucket=bucket, Key="a/x")["ContentLength"] == 4
        assert _code(lambda: narrowed.get_object(Bucket=bucket, Key="b/x")) == (
            "AccessDenied",
            403,
        )
        put = lambda: narrowed.put_object(Bucket=bucket, Key="a/y", Body=b"y")  # noqa: E731
        assert _code(put) == ("AccessDenied", 403)
        # the admin keys fixtures use are not checked
        s3_env.client().put_object(Bucket=bucket, Key="b/y", Body=b"admin")
    # outside the context moto (5.2) ignores session policies again, even checking the rest
    assert narrowed.get_object(Bucket=bucket, Key="b/y")["Body"].read() == b"admin"
    with s3_env.enforcing_auth():
        assert narrowed.get_object(Bucket=bucket, Key="b/x")["Body"].read() == b"in b"


def test_keys_that_are_no_session_are_checked_only_if_moto_already_checked_them(s3_env, bucket):
    """Fixtures' made-up keys keep working inside the context, unless the test also asked
    moto to check every request (MotoS3.enforcing_auth), which the context then honours."""
    made_up = s3_env.client(aws_access_key_id="test", aws_secret_access_key="test")
    with enforcing_session_policies():
        made_up.put_object(Bucket=bucket, Key="c/x", Body=b"made up")
    with s3_env.enforcing_auth(), enforcing_session_policies():
        put = lambda: made_up.put_object(Bucket=bucket, Key="c/y", Body=b"y")  # noqa: E731
        assert _code(put) == ("InvalidAccessKeyId", 403)
    assert made_up.get_object(Bucket=bucket, Key="c/x")["Body"].read() == b"made up"
