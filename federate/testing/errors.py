"""Asserting on FederateError: the code a caller branches on and the words a person reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from federate.errors import FederateError


@contextmanager
def raises_federate_error(code: str, *fragments: str, case: object = None) -> Iterator[None]:
    """Expect a FederateError with error code ``code`` whose message contains every fragment.

    ``case`` labels the failure when the check runs in a loop over inputs.
    """
    where = "" if case is None else f" (case {case!r})"
    try:
        yield
    except FederateError as err:
        assert err.error_code == code, f"{err!r}{where}"
        for fragment in fragments:
            assert fragment in str(err), f"{fragment!r} not in {str(err)!r}{where}"
    else:
        pytest.fail(f"expected FederateError({code}){where}")
