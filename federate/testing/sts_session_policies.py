"""Make the in-process moto server enforce STS session policies, as AWS does.

A session from ``AssumeRole(..., Policy=...)`` may do only what both the role's policies
and the session policy allow. moto (5.2) checks the role's policies and ignores the
session policy, so credentials a registry narrows to one version's prefix would read
every prefix of the bucket. Inside :func:`enforcing_session_policies`, a request to the
moto server of this process (``moto_s3_server``, federate/testing/s3.py) signed with
assumed-role session credentials (it carries ``X-Amz-Security-Token``) gets moto's own
checks (signature, the role's policies) and then the session policy's, evaluated by
moto's ``IAMPolicy``: refused unless it allows the action on the resource, and refused
whenever one of its statements denies it. A session assumed without a policy is governed
by the role's policies alone. Outside the context, and for requests signed with other
keys (the admin keys fixtures create buckets with), nothing changes: unless moto's checks
were already on when it was entered (``MotoS3.enforcing_auth()``), those requests are
not checked at all.

This patches two moto internals (``ActionAuthenticatorMixin._authenticate_and_authorize_
action`` and ``IAMRequestBase.check_action_permitted``) for the duration of the context.
That is acceptable only because it makes the emulator stricter, like real AWS; the
patches live here alone and are undone on exit. Known limits (moto's, kept):

* moto names an S3 request's action after its operation (``s3:HeadObject``); AWS
  authorizes some operations under another action (HEAD as ``s3:GetObject``). The session
  policy is asked about both names (:data:`AWS_ACTIONS`), the role's policies only about
  moto's.
* moto evaluates a statement's ``Condition`` without the request's context keys, and
  answers DENIED when it does not hold: an action that a conditioned statement names (the
  ``s3:ListBucket`` of a prefix-scoped policy) is refused. Listings with ``prefix=a/``
  also fail moto's signature check (federate/testing/s3.py), so list outside the context.
* Presigned URLs (the token in the query string) are not checked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: moto's action name for an S3 operation -> the action AWS authorizes it as
AWS_ACTIONS = {
    "s3:HeadObject": "s3:GetObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:ListParts": "s3:ListMultipartUploadParts",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
}


def session_policy_permits(policy: str, action: str, resource: str) -> bool:
    """Whether the session policy document ``policy`` (JSON) allows ``action`` (moto's
    name, ``s3:GetObject``) on ``resource`` (an ARN) and no statement of it denies it."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    evaluated = IAMPolicy(policy)
    names = {action, AWS_ACTIONS.get(action, action)}
    results = {evaluated.is_action_permitted(name, resource) for name in names}
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def _session_policy(access_key: Any) -> str | None:
    """The policy the session of moto's ``AssumedRoleAccessKey`` was assumed with."""
    from moto.sts.models import sts_backends

    key_id = access_key.create_credentials().access_key
    for session in sts_backends[access_key.account_id][access_key.partition].assumed_roles:
        if session.access_key_id == key_id:
            return session.policy or None
    return None


@contextlib.contextmanager
def enforcing_session_policies() -> Iterator[None]:
    """Inside: requests signed with assumed-role sessions are checked as AWS checks them,
    their session policy included (see the module's docstring). Not thread-safe against
    another test entering it at the same time; nesting is fine."""
    from moto import settings
    from moto.core import enable_iam_authentication
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import AssumedRoleAccessKey, IAMRequestBase

    checking_all = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    moto_check = IAMRequestBase.check_action_permitted

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        headers = self.headers
        signed_by_session = "Authorization" in headers and "X-Amz-Security-Token" in headers
        if signed_by_session or checking_all:
            moto_authorize(self, iam_request_cls, resource)

    def check(self: Any, resource: str) -> None:
        moto_check(self, resource)  # the role's (or user's) own policies
        if self._action == "sts:GetCallerIdentity" or not isinstance(
            self._access_key, AssumedRoleAccessKey
        ):
            return
        policy = _session_policy(self._access_key)
        if policy is not None and not session_policy_permits(policy, self._action, resource):
            self._raise_access_denied()

    with enable_iam_authentication():
        ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
        IAMRequestBase.check_action_permitted = check  # type: ignore[method-assign]
        try:
            yield
        finally:
            ActionAuthenticatorMixin._authenticate_and_authorize_action = moto_authorize  # type: ignore[method-assign]
            IAMRequestBase.check_action_permitted = moto_check  # type: ignore[method-assign]
