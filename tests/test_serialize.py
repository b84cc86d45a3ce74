"""The one serializer behind every ``--json``: plain JSON values, stable field names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from federate.entities import (
    FileInfo,
    ModelVersion,
    PagedList,
    PromptVersion,
    RegisteredModel,
    Webhook,
    WebhookEvent,
)
from federate.serialize import to_json


def test_records_become_plain_json_with_their_fields():
    mv = ModelVersion("m", 3, 1, 2, storage_location="s3://b/m/3", aliases=("champion",))
    rm = RegisteredModel("m", 1, 2, aliases={"champion": 3}, latest_versions=(mv,))
    data = to_json(PagedList([rm], token="next"))
    assert json.loads(json.dumps(data)) == data  # nothing but JSON values
    (model,) = data
    assert model["aliases"] == {"champion": 3}
    (version,) = model["latest_versions"]
    assert version["version"] == 3 and version["aliases"] == ["champion"]
    assert version["download_uri"] == "s3://b/m/3"

    pv = to_json(PromptVersion("p", 1, "Hi {{ name }}", 1, 2))
    assert pv["variables"] == ["name"] and pv["template"] == "Hi {{ name }}"
    assert to_json(FileInfo("a/b.bin", False, 12, "md5:00")) == {
        "path": "a/b.bin",
        "is_dir": False,
        "size": 12,
        "checksum": "md5:00",
        "etag": None,
    }
    hook = to_json(Webhook("w1", "n", "https://h/x", (WebhookEvent.PROMPT_CREATED,), 1, 2))
    assert hook["events"] == ["prompt.created"] and "secret" not in hook
    assert to_json({"p": Path("/x"), "e": WebhookEvent.PROMPT_CREATED}) == {
        "p": "/x",
        "e": "prompt.created",
    }


def test_an_unknown_type_is_refused_not_printed_as_a_repr():
    with pytest.raises(TypeError, match="object has no JSON form"):
        to_json(object())
