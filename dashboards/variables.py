"""The template variables the dashboards share: datasource, run id, channel, endpoint.

No SKU variable: no metric carries a SKU label (the drift metrics aggregate over SKUs
to keep cardinality bounded), so it would filter nothing; per-SKU drift is in the run
directory's ``drift.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.panels import DATASOURCE, DATASOURCE_VAR
from slo.conventions import LABEL_ENDPOINT, LABEL_RUN, METRIC_CLIENT_REQUESTS

__all__ = ["ALL", "channel_variable", "datasource_variable", "endpoint_variable", "run_variable"]

ALL = ".*"
"""The value of "All": a regex that also matches a label's absence."""


def datasource_variable() -> db.DatasourceVariable:
    return db.DatasourceVariable(DATASOURCE_VAR).label("Prometheus").type("prometheus")


def _query_variable(name: str, label: str, query: str, description: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name).label(label).description(description).datasource(DATASOURCE)
        .query(query).definition(query).multi(True).include_all(True).all_value(ALL)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )  # fmt: skip


def run_variable() -> db.QueryVariable:
    return _query_variable(
        "run", "Run id", f"label_values({LABEL_RUN})",
        f"The run ({LABEL_RUN}, set where runs are federated into one Prometheus). "
        "All: every run, and a rehearsal's own Prometheus, where the label is absent.",
    )  # fmt: skip


def endpoint_variable() -> db.QueryVariable:
    return _query_variable(
        "endpoint", "Endpoint", f"label_values({METRIC_CLIENT_REQUESTS}_total, {LABEL_ENDPOINT})",
        "Endpoints the load generator calls, as METHOD /route.",
    )  # fmt: skip


def channel_variable(channels: Sequence[str]) -> db.CustomVariable:
    values = ",".join(channels)
    return (
        db.CustomVariable("channel").label("Channel").values(values).multi(True)
        .include_all(True).all_value(ALL)
        .description("Sales channels of the plan (their stock views and order outcomes).")
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )  # fmt: skip
