"""The local platform's stateless helpers: which revision a rollback restores, reaping."""

from __future__ import annotations

import pytest

from platforms.local_ops import reset_fault_proxies, rollback_target
from platforms.processes import free_port
from slo.errors import RevertError


@pytest.mark.parametrize(
    ("history", "to_revision", "expected"),
    [
        (["v1", "v2"], None, "v1"),
        (["v1", "v2", "v3"], "v1", "v1"),
        (["v1", "v2", "v3"], "v9", "v2"),
        (["v1", "v2", "v1"], None, "v2"),
        (["v1"], "v1", "v1"),
    ],
    ids=[
        "without a revision, the one before the current one",
        "a revision deployed before",
        "a revision never deployed falls back to the previous one",
        "the previous entry even when it was rolled back from (the caller guards that)",
        "the current revision itself, with no history",
    ],
)
def test_rollback_target(history: list[str], to_revision: str | None, expected: str) -> None:
    assert rollback_target(history, to_revision) == expected


def test_no_previous_revision_is_a_revert_error() -> None:
    with pytest.raises(RevertError, match="cannot roll back v1: no previous revision"):
        rollback_target(["v1"], "v0")


def test_no_fault_proxies_means_nothing_to_reap() -> None:
    assert reset_fault_proxies({}) == []


def test_an_unreachable_fault_proxy_is_a_revert_error_naming_its_link() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RevertError) as caught:
        reset_fault_proxies({"orders-inventory": url}, timeout_s=1)
    message = str(caught.value)
    assert message.startswith("resetting fault proxies failed: orders-inventory: fault proxy")
    assert message.endswith("(removed: none)")
