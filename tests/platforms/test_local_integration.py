"""LocalPlatform running the real reference OMS: supervise, deploy, roll back."""

from __future__ import annotations

from pathlib import Path

import pytest

from platforms.local import LocalPlatform, OmsConfig
from tests.platforms.conftest import REPO
from tests.platforms.helpers import EventRecorder, healthz, versions, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (REPO / "reference_oms" / "__main__.py").exists(),
        reason="reference_oms/__main__.py does not exist yet",
    ),
]


def test_the_reference_oms_survives_a_kill_and_rolls_back_to_v1(tmp_path: Path) -> None:
    events = EventRecorder()
    with LocalPlatform(OmsConfig(replicas=2, skus=20), tmp_path, on_event=events) as platform:
        assert platform.health().ok
        first = platform.replicas()
        answers = [healthz(r.admin_url) or {} for r in first]
        assert [(a.get("status"), a.get("version"), a.get("replica")) for a in answers] == [
            ("ok", "v1", 1),
            ("ok", "v1", 2),
        ]

        platform.kill_replica("orders-1")
        wait_until(lambda: [r for r in platform.replicas() if r.restarts == 1 and r.alive])
        assert wait_until(lambda: healthz(first[0].admin_url), timeout_s=30)["replica"] == 1

        platform.deploy("v2")
        assert versions(r.admin_url for r in platform.replicas()) == ["v2", "v2"]

        assert platform.rollback() == "v1"
        assert platform.revision == "v1"
        assert platform.revisions() == ["v1", "v2", "v1"]
        assert versions(r.admin_url for r in platform.replicas()) == ["v1", "v1"]
    types = [e["type"] for e in events.all()]
    assert types[0] == "platform_started"
    assert types[-1] == "platform_stopped"
    assert {"replica_killed", "replica_exited", "replica_restarted"} <= set(types)
