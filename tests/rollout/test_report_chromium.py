"""report.html in a real browser: headless Chromium renders it offline, with the verdict
table visible on the first screen, and the page makes no network request.

How "no network request" is checked, two ways:

1. Statically: no ``src``/``href``/``url()`` in the HTML points outside the file
   (``http:``, ``https:`` or protocol-relative ``//``), there is no script, and the page
   carries a Content-Security-Policy of ``default-src 'none'`` (so even a URL smuggled in
   by a value would be refused by the browser).
2. Dynamically, through the DevTools protocol (``--remote-debugging-pipe``: JSON messages
   on file descriptors 3 and 4, no extra library): the page is opened in a tab with the
   Network domain enabled, and every ``Network.requestWillBeSent`` of that tab is
   recorded. Only the report itself (``file:``) and ``data:`` URIs may appear. Chromium
   also runs with ``--host-resolver-rules="MAP * ~NOTFOUND"`` and a dead proxy, so nothing
   could leave the machine anyway. This is robust where the alternatives are not: a
   proxy that records connections also sees Chromium's own background traffic (update
   checks, network time), and verbose logs change format between releases. A control
   page that loads an image proves the check sees a request when there is one.

Visibility: ``Runtime.evaluate`` (not subject to the page's CSP) checks that the verdict
table is laid out inside the first 1280x900 viewport, and the screenshot of that viewport
(``Page.captureScreenshot``) is decoded by a small PNG reader below and must contain the
verdict badges' colour.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from rollout.gate import gate_run
from slo.runfiles import REPORT_FILE
from tests.rollout.synthetic import write_run
from tests.rollout.test_report import EXTERNAL, write_traces

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parallel,  # judges no latency
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium binary (Debian: apt install chromium)"
    ),
]

PASS_BADGE = (0xD9, 0xF2, 0xD9)  # .pass background in report_html.CSS
VISIBLE = """(() => {
  const t = document.getElementById('verdict-table');
  if (!t) return false;
  const r = t.getBoundingClientRect();
  return r.height > 0 && r.top < innerHeight && getComputedStyle(t).visibility === 'visible';
})()"""


class DevTools:
    """Chromium driven over ``--remote-debugging-pipe`` (fd 3: to it, fd 4: from it)."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--no-first-run",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=127.0.0.1:9",
                "--window-size=1280,900",
            ],
            pass_fds=(3, 4),
            preexec_fn=lambda: _fds(to_child, from_child),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._id, self.events = b"", 0, list[dict[str, Any]]()

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            assert time.monotonic() < deadline, f"no {method}"
            self.events.append(self._next())

    def _next(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def open(self, url: str) -> str:
        """A new tab with the network watched, navigated to ``url``; its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Network.enable", session)
        self.send("Page.enable", session)
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired")
        time.sleep(0.5)  # anything late (a lazy image) would be requested by now
        self.send("Runtime.evaluate", session, expression="1")  # drain pending events
        return str(session)

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._write)
        os.close(self._read)


def _fds(to_child: int, from_child: int) -> None:
    """In the child: the pipe ends where Chromium expects them (3 and 4), moved out of
    the way first so that neither overwrites the other."""
    high_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
    high_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
    os.dup2(high_in, 3)
    os.dup2(high_out, 4)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and body[12] == 0, "8-bit, non-interlaced only"
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    previous = bytearray(stride)
    for y in range(height):
        filt, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            if filt == 1:
                line[x] = (line[x] + a) & 0xFF
            elif filt == 2:
                line[x] = (line[x] + b) & 0xFF
            elif filt == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


def count_colour(png: bytes, colour: tuple[int, int, int]) -> int:
    width, channels, rows = png_pixels(png)
    return sum(
        1
        for row in rows
        for x in range(width)
        if tuple(row[x * channels : x * channels + 3]) == colour
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run, plan = write_run(tmp_path_factory.mktemp("chromium"))
    write_traces(run)
    gate_run(run, plan)
    return run.file(REPORT_FILE)


def test_the_report_has_no_external_reference(report: Path) -> None:
    html = report.read_text()
    assert not EXTERNAL.search(html)
    assert "<script" not in html and "default-src 'none'" in html


def test_chromium_shows_the_verdict_table_first_and_requests_nothing(
    tmp_path: Path, report: Path
) -> None:
    browser = DevTools(tmp_path / "profile")
    try:
        session = browser.open(report.as_uri())
        visible = browser.send("Runtime.evaluate", session, expression=VISIBLE, returnByValue=True)
        shot = browser.send("Page.captureScreenshot", session, format="png")
        dom = browser.send(
            "Runtime.evaluate",
            session,
            expression="document.documentElement.outerHTML",
            returnByValue=True,
        )
    finally:
        browser.close()
    assert visible["result"]["value"] is True
    png = base64.b64decode(shot["data"])
    (tmp_path / "report.png").write_bytes(png)
    assert len(png) > 10_000  # not a blank page
    assert count_colour(png, PASS_BADGE) > 50  # the verdict badges are on the first screen
    html = dom["result"]["value"]
    assert 'id="verdict-table"' in html and "place-p99" in html and "<svg" in html
    outside = [u for u in browser.requests() if not u.startswith(("file:", "data:"))]
    assert outside == [], outside
    assert report.as_uri() in browser.requests()  # the check saw the page's own load


def test_the_check_sees_a_page_that_uses_the_network(tmp_path: Path) -> None:
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><img src="http://report-test.example/pixel.png">')
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
    finally:
        browser.close()
    assert "http://report-test.example/pixel.png" in browser.requests()


def test_a_plain_screenshot_from_the_command_line_is_not_empty(
    tmp_path: Path, report: Path
) -> None:
    """What a person would run: ``chromium --headless --screenshot``."""
    assert CHROMIUM is not None
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1280,900",
            f"--user-data-dir={tmp_path / 'p'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert shot.is_file() and count_colour(shot.read_bytes(), PASS_BADGE) > 50
