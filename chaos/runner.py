"""Run one experiment in a child process, rollbacks always, fault windows recorded.

``python -m chaos.runner EXPERIMENT.json --journal PATH --events PATH [--var k=v ...]
[--dry-run]`` runs the experiment with chaoslib's ``run_experiment`` and the rollback
strategy ``always``: the rollbacks run after the method, after a failed hypothesis,
and on SIGINT/SIGTERM (chaoslib turns SIGTERM into an interruption); once they have
started, further SIGINT/SIGTERM are ignored so they run to the end. It writes the
Chaos Toolkit journal to ``--journal`` and appends ``fault_started`` /
``fault_stopped`` events (``{"ts", "type", "fault", "id"}``) to ``--events``; a
``fault_started`` also carries ``expires_ts``, the latest moment (Unix seconds) the
fault can still be in place if nobody stops it (start + planned duration + lease, as
the start action reports it), so readers know when a never-stopped fault lapsed.

Exit codes: 0 the hypothesis held; 1 it deviated; 2 a refused fault or bad input
(a guard said no); 3 an action failed otherwise, or the target was not in its steady
state before the fault (nothing was injected); 4 the hypothesis could not be checked
after the fault (its probes had no data, e.g. the flood had ended); 5 a rollback failed
or a fault was left behind (its lease still lapses within seconds: every renewer is
stopped on exit).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid, run_experiment
from chaoslib.run import RunEventHandler
from chaoslib.types import Dry, Strategy

from chaos.events import append_event
from chaos.leases import LEASES
from chaos.settings import MAX_LEASE_S
from platforms.processes import die_with_parent_hook
from slo.errors import PeakopsError, UsageError
from slo.exitcodes import ExitCode

__all__ = [
    "FaultWindows",
    "exit_code",
    "expires_ts",
    "main",
    "parse_vars",
    "run_child",
    "runner_command",
    "unmeasured_probe_lines",
]

SETTINGS: dict[str, Any] = {"runtime": {"rollbacks": {"strategy": "always"}}}

_log = logging.getLogger("peakops.chaos")


class FaultWindows(RunEventHandler):
    """Appends a fault window's start and stop to ``events.jsonl`` as they happen."""

    def __init__(self, events: Path | None, *, experiment: str) -> None:
        super().__init__()
        self._path = events
        self._experiment = experiment
        self.open: dict[str, str] = {}  # fault name -> id

    def start_rollbacks(self, experiment: Any) -> None:
        # A second Ctrl-C or SIGTERM must not cut the rollbacks short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def activity_completed(self, activity: Any, run: Any) -> None:
        output = run.get("output")
        if run.get("status") != "succeeded" or not isinstance(output, dict):
            return
        event, name = output.get("event"), str(output.get("fault", ""))
        if event == "fault_started":
            self.open[name] = str(output["id"])
            self._emit("fault_started", name, self.open[name], expires_ts=expires_ts(output))
        elif event == "fault_stopped" and name in self.open:
            self._emit("fault_stopped", name, self.open.pop(name))

    def _emit(self, kind: str, fault: str, fault_id: str, **extra: Any) -> None:
        if self._path is not None:
            append_event(
                self._path, kind, fault=fault, id=fault_id, experiment=self._experiment, **extra
            )


def expires_ts(output: Mapping[str, Any]) -> float:
    """A started fault's ``expires_ts``: the action's own, else now + duration + lease.

    Our start actions always say; for one that does not, a missing duration counts as 0
    and a missing lease as the longest one allowed (60 s).
    """
    stated = output.get("expires_ts")
    if isinstance(stated, int | float) and not isinstance(stated, bool):
        return float(stated)
    duration_s = float(output.get("duration_s") or 0.0)
    lease_s = float(output.get("lease_s") or MAX_LEASE_S)
    return time.time() + duration_s + lease_s


def parse_vars(pairs: Iterable[str]) -> dict[str, Any]:
    """``k=v`` pairs; values that read as a bool, int or float become one."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--var {pair!r}: expected key=value")
        parsed[key.strip()] = _typed(text)
    return parsed


def _typed(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def exit_code(journal: Mapping[str, Any], left_open: Sequence[str]) -> int:
    """The runner's exit code for a journal (see the module docstring)."""
    rollbacks = journal.get("rollbacks") or []
    if left_open or any(r.get("status") == "failed" for r in rollbacks):
        return int(ExitCode.REVERT_FAILED)
    failed = [r for r in journal.get("run") or [] if r.get("status") == "failed"]
    if failed:
        text = "".join(failed[0].get("exception") or [])
        return int(ExitCode.USAGE if "UsageError" in text else ExitCode.INFRA)
    before = (journal.get("steady_states") or {}).get("before") or {}
    if before.get("steady_state_met") is False:
        return int(ExitCode.INFRA)  # unhealthy before any fault: the method never ran
    if journal.get("deviated") and _unmet_only_for_want_of_data(journal):
        return int(ExitCode.INCONCLUSIVE)  # nothing to judge after the fault, not a deviation
    if journal.get("deviated") or journal.get("status") != "completed":
        return int(ExitCode.BREACH)
    return int(ExitCode.OK)


def _unmet_only_for_want_of_data(journal: Mapping[str, Any]) -> bool:
    """Did the hypothesis after the fault fail only on probes that had no data?"""
    after = (journal.get("steady_states") or {}).get("after") or {}
    unmet = [p for p in after.get("probes") or [] if p.get("tolerance_met") is False]
    return bool(unmet) and all(
        isinstance(p.get("output"), dict) and p["output"].get("data") == "missing" for p in unmet
    )


def run(
    path: Path, *, journal_path: Path, events: Path | None, variables: Mapping[str, Any],
    dry_run: bool = False,
) -> int:  # fmt: skip
    """Run the experiment at ``path``; return the exit code."""
    try:
        experiment = json.loads(path.read_text())
        ensure_experiment_is_valid(experiment)
    except (OSError, ValueError, ChaosException) as err:
        print(f"peakops chaos: {path}: invalid experiment: {err}", file=sys.stderr)
        return int(ExitCode.USAGE)
    config = dict(variables)
    if events is not None:  # where the stop condition records a halt (not a user setting)
        experiment.setdefault("configuration", {})["peakops_events_file"] = str(events)
    strategy = Strategy.DEFAULT
    if dry_run:
        config["peakops_dry_run"] = True
        experiment["dry"] = Dry.PAUSE  # no pauses; our actions only report
        strategy = Strategy.SKIP
    windows = FaultWindows(events, experiment=path.stem)
    try:
        journal = run_experiment(
            experiment, settings=SETTINGS, experiment_vars=(config, {}),
            strategy=strategy, event_handlers=[windows],
        )  # fmt: skip
    finally:
        # chaoslib restores the default handlers when the experiment returns: a stop asked
        # for now (the rehearsal stopping its steps) must not kill the runner while it
        # writes its journal and exit code, and read as "died by signal, fault left".
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lapsing = LEASES.stop_all()  # whatever was not healed now lapses within its lease
    if lapsing:
        _log.error("faults left to lapse: %s", ", ".join(lapsing))
    journal_path.write_text(json.dumps(journal, indent=2, default=str) + "\n")
    _report(journal, windows.open)
    return exit_code(journal, sorted(windows.open))


def _report(journal: Mapping[str, Any], left_open: Mapping[str, str]) -> None:
    for item in [*(journal.get("run") or []), *(journal.get("rollbacks") or [])]:
        activity = item.get("activity", {})
        output = json.dumps(item.get("output"), default=str, sort_keys=True)
        if item.get("status") == "failed":
            lines = "".join(item.get("exception") or []).strip().splitlines()
            output = lines[-1] if lines else output
        print(f"{activity.get('type')} {activity.get('name')}: {item.get('status')} {output}")
    for line in unmeasured_probe_lines(journal):
        print(line)
    for name, fault_id in sorted(left_open.items()):
        print(f"fault {name} ({fault_id}) was not reverted: its lease lapses within seconds")
    print(f"experiment {journal.get('status')}, deviated: {journal.get('deviated')}")
    before = (journal.get("steady_states") or {}).get("before") or {}
    if before.get("steady_state_met") is False:
        print("the steady-state hypothesis did not hold before the fault: nothing was injected")


def unmeasured_probe_lines(journal: Mapping[str, Any]) -> list[str]:
    """One line per hypothesis probe that had no data (see :mod:`chaos.probes`)."""
    lines = []
    for when, state in (journal.get("steady_states") or {}).items():
        for probe in (state or {}).get("probes") or []:
            output = probe.get("output")
            if isinstance(output, dict) and output.get("data") in ("missing", "unconfigured"):
                name = (probe.get("activity") or {}).get("name")
                verdict = "not met" if output["data"] == "missing" else "not judged"
                lines.append(
                    f"hypothesis probe {name} ({when}): no data, {verdict}: {output.get('no_data')}"
                )
    return lines


def runner_command(
    experiment: Path, *, journal: Path, events: Path | None = None,
    variables: Mapping[str, Any] | None = None, dry_run: bool = False,
) -> list[str]:  # fmt: skip
    """The command line of a runner child."""
    command = [sys.executable, "-m", "chaos.runner", str(experiment), "--journal", str(journal)]
    if events is not None:
        command += ["--events", str(events)]
    for key, value in (variables or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        command += ["--var", f"{key}={text}"]
    return command + (["--dry-run"] if dry_run else [])


def run_child(command: Sequence[str], *, grace_s: float = 60.0) -> int:
    """Run a runner child in the foreground and return its exit code.

    The child dies with us on SIGKILL (a death signal). Whatever stops us (Ctrl-C, which
    reaches the child too, or a signal the CLI turned into an exception), the child is
    asked to stop (SIGTERM: it plays its rollbacks), given ``grace_s``, then killed;
    the exception is raised again for the caller to map to an exit code.
    """
    child = subprocess.Popen(list(command), preexec_fn=die_with_parent_hook())
    try:
        return child.wait()
    except BaseException:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.kill()  # its faults lapse with their leases
            child.wait()
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.runner", description=__doc__)
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--events", type=Path)
    parser.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        variables = parse_vars(args.var)
        return run(
            args.experiment, journal_path=args.journal, events=args.events,
            variables=variables, dry_run=args.dry_run,
        )  # fmt: skip
    except PeakopsError as err:
        print(f"peakops chaos: error: {err}", file=sys.stderr)
        return int(err.exit_code)


if __name__ == "__main__":
    sys.exit(main())
