"""federate.redaction: the secrets it finds in text, and the record factory that keeps them
out of every handler's view, however and wherever the handler was added."""

from __future__ import annotations

import logging

import pytest

from federate.redaction import install, redact_text, register_secret
from federate.testing.logs import debug_logs

TOKEN = "FQoGZXIvYXdzSESSIONTOKEN/abc+def=="
SIG = "uXk3bSIGNATURE%2Bq%3D"


@pytest.mark.parametrize(
    "text, secret, kept",
    [
        # urllib3's request line of a SAS download
        (
            f'http://127.0.0.1:10000 "GET /acct/c/m.bin?sv=2021-08-06&se=2030-01-01&sp=r&sig={SIG}'
            ' HTTP/1.1" 206 10',
            SIG,
            "sv=2021-08-06&se=2030-01-01&sp=r&sig=<redacted>",
        ),
        # botocore's signed request, headers as bytes in a dict repr
        (
            "Sending http request: <AWSPreparedRequest method=GET, url=http://h/b/k, headers="
            f"{{'X-Amz-Security-Token': b'{TOKEN}', 'Authorization': b'AWS4-HMAC-SHA256 "
            "Credential=ASIAX/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, "
            "Signature=0badc0ffee', 'Range': b'bytes=0-9'}>",
            TOKEN,
            "'Range': b'bytes=0-9'",
        ),
        # botocore.auth's canonical request
        (
            f"CanonicalRequest:\nGET\n/b/k\n\nhost:h\nx-amz-security-token:{TOKEN}\n\n"
            "host;x-amz-security-token\nUNSIGNED-PAYLOAD",
            TOKEN,
            "host;x-amz-security-token",
        ),
        ("Signature:\n0badc0ffee0badc0ffee", "0badc0ffee", "Signature:"),
        # botocore's dump of an STS answer (federate serve vending session credentials)
        (
            "Response body:\nb'<AssumeRoleResult><Credentials><SessionToken>"
            f"{TOKEN}</SessionToken><SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>"
            "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>'",
            TOKEN,
            "<Expiration>2030-01-01T00:00:00Z</Expiration>",
        ),
        ("<SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>", "wJalrXUtnFEMI", "<Secret"),
        # presigned URLs of S3 and GCS, a webhook's token, an OAuth code
        (f"GET https://b.s3.amazonaws.com/k?X-Amz-Security-Token={TOKEN}&x=1", TOKEN, "&x=1"),
        ("url https://storage.googleapis.com/b/o?X-Goog-Signature=abc123def", "abc123def", "o?"),
        ("POST /hook?token=tok3n-value HTTP/1.1", "tok3n-value", "POST /hook?token="),
        ("redirect ?code=oauthcode42&state=s", "oauthcode42", "state=s"),
        # connection strings
        ("AccountName=dev;AccountKey=Eby8vdM02xNO==;BlobEndpoint=x", "Eby8vdM02xNO", "dev"),
        # database URLs with unencoded / ? # @ in the password
        ("engine postgresql+psycopg://u:p@ss/w?rd#x@db:5432/reg ok", "ss/w?rd#x", "@db:5432/reg"),
        ("'mysql+pymysql://root:a/b?c@h/db'", "a/b?c", "root:***@h/db'"),
        # SQLAlchemy echo: a stored webhook secret among parameters and rows
        (
            "[generated in 0.001s] ('id', 'plain:whsec-42', 3)",
            "whsec-42",
            "('id', '<redacted>', 3)",
        ),
        ("[cached] {'secret': 'fernet:gAAAAB', 'id': 'x'}", "gAAAAB", "'id': 'x'"),
        ("Row ('id', \"plain:it's\", None)", "it's", "None"),
    ],
)
def test_redact_text_hides_the_secret_and_keeps_the_rest(text: str, secret: str, kept: str) -> None:
    shown = redact_text(text)
    assert secret not in shown
    assert kept in shown


@pytest.mark.parametrize(
    "text",
    [
        "Starting new HTTPS connection (1): acct.blob.core.windows.net:443",
        "Making request for OperationModel(name=GetObject) with params: {'Key': 'm/1/x'}",
        "s3://bucket/prefix?versionId=3 listed 12 files",
        "sqlite:////var/lib/federate/registry.db",
    ],
)
def test_redact_text_leaves_text_without_secrets_alone(text: str) -> None:
    assert redact_text(text) == text


def test_registered_secrets_are_hidden_anywhere_and_short_ones_ignored() -> None:
    register_secret("/services/T000/B000/XXXXslackpath", "abc", None)
    shown = redact_text('"POST /services/T000/B000/XXXXslackpath HTTP/1.1" 200 (abc)')
    assert shown == '"POST <redacted> HTTP/1.1" 200 (abc)'


@pytest.fixture
def secret_logger() -> logging.Logger:
    install()
    return logging.getLogger("urllib3.connectionpool.redaction_test")


def test_a_handler_added_later_on_any_logger_sees_no_secret(secret_logger: logging.Logger) -> None:
    # a filter on "urllib3" would not see this child's records; the record factory does
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    handler = Keep(logging.DEBUG)
    secret_logger.addHandler(handler)
    try:
        with debug_logs() as logs:
            secret_logger.debug('"%s %s HTTP/1.1" %s', "GET", f"/c/b?sig={SIG}", 206)
    finally:
        secret_logger.removeHandler(handler)
    assert seen == ['"GET /c/b?sig=<redacted> HTTP/1.1" 206']
    logs.assert_hidden([SIG])
    assert logs.count("urllib3") == 1


def test_records_without_secrets_keep_their_message_and_arguments(
    secret_logger: logging.Logger,
) -> None:
    with debug_logs() as logs:
        secret_logger.debug("Starting new HTTP connection (%d): %s:%s", 1, "127.0.0.1", 80)
    (record,) = logs.records
    assert (record.msg, record.args) == (
        "Starting new HTTP connection (%d): %s:%s",
        (1, "127.0.0.1", 80),
    )


def test_tracebacks_and_broken_arguments_are_redacted(secret_logger: logging.Logger) -> None:
    with debug_logs() as logs:
        try:
            raise ValueError(f"bad url https://h/p?token={TOKEN}")
        except ValueError:
            secret_logger.exception("failed")
        secret_logger.debug("two args %s %s", f"sig={SIG}")  # one missing
    logs.assert_hidden([TOKEN, SIG])
    assert "ValueError: bad url https://h/p?token=<redacted>" in logs.text.getvalue()


def test_other_loggers_are_left_alone() -> None:
    install()
    with debug_logs() as logs:
        logging.getLogger("myapp").debug("sig=%s", "mine")
    assert logs.records[0].getMessage() == "sig=mine"


def test_install_chains_the_factory_it_finds_and_survives_being_replaced() -> None:
    before = logging.getLogRecordFactory()
    marks: list[str] = []

    def theirs(*args, **kwargs):  # type: ignore[no-untyped-def]
        record = before(*args, **kwargs)
        marks.append(record.name)
        return record

    try:
        logging.setLogRecordFactory(theirs)  # another library replaces federate's
        install()
        install()  # idempotent
        factory = logging.getLogRecordFactory()
        assert getattr(factory, "_federate_redacts", False)
        record = factory("federate.x", logging.DEBUG, __file__, 1, "sig=%s", ("S3CR3T",), None)
        assert record.getMessage() == "sig=<redacted>" and marks == ["federate.x"]
    finally:
        logging.setLogRecordFactory(before)


@pytest.mark.parametrize(
    "text",
    [
        "ASGI [3] Started scope={'headers': [(b'host', b'h'), (b'authorization', b'Bearer %s')]}",
        "{'headers': [(b'authorization', b'Basic %s')]}",
        "retrying with Bearer %s",
    ],
)
def test_authorization_credentials_are_hidden_in_any_shape(text: str) -> None:
    # uvicorn's TRACE dump of a request's scope showed the bearer token as a bytes pair
    secret = "tok" + "x9" * 12
    shown = redact_text(text % secret)
    assert secret not in shown and "<redacted>" in shown
