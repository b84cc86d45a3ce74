"""federate: resolve models:/ and prompts:/ URIs across registries and fetch their files.

    >>> import federate
    >>> federate.register("./iris_model", "iris", alias="champion")
    >>> federate.download("models:/iris@champion", "/tmp/iris")

Importing federate is cheap: registries, repositories and their SDKs load on first use.
"""

from federate.api import (
    download,
    get_registry,
    list_artifacts,
    load_prompt,
    register,
    resolve,
)
from federate.config import get_registry_uri, set_registry_uri
from federate.entities import FileInfo, ModelVersion, PromptVersion, RegisteredModel
from federate.errors import FederateError
from federate.jobs.copy import copy
from federate.jobs.mirror import mirror
from federate.uri import ModelRef, parse_uri

__version__ = "0.1.0"

__all__ = [
    "FederateError",
    "FileInfo",
    "ModelRef",
    "ModelVersion",
    "PromptVersion",
    "RegisteredModel",
    "copy",
    "mirror",
    "download",
    "get_registry",
    "get_registry_uri",
    "list_artifacts",
    "load_prompt",
    "parse_uri",
    "register",
    "resolve",
    "set_registry_uri",
]
