"""The HTML building blocks of ``report.html``: escaping, tables, sections, the page shell.

Plain strings, every value escaped (``html.escape``) where it enters; the style sheet
is inline and uses the system font stack, so the page needs nothing from a network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = [
    "CSP",
    "CSS",
    "badge",
    "esc",
    "fmt",
    "page",
    "paragraph",
    "section",
    "table",
]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page may load nothing: should a value ever smuggle in a URL, the browser refuses it."""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0 auto;max-width:1100px;padding:16px 24px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f5f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-weight:600;font-size:12px}
.pass{background:#d9f2d9;color:#145214}.fail{background:#f9d6d5;color:#8a1111}
.inconclusive{background:#fdf0c4;color:#6b4e00}.na{background:#eee;color:#555}
.banner{padding:10px 14px;border-radius:6px;margin:10px 0;font-weight:600}
.banner.fail{border:1px solid #e5a3a1}.banner.inconclusive{border:1px solid #e8cf7a}
.banner.pass{border:1px solid #9fd49f}.banner.na{border:1px solid #ccc}
.warn{background:#fff4e5;border:1px solid #f0c27b;padding:8px 12px;border-radius:6px}
.meta{color:#555}.chart{display:block;max-width:100%;height:auto;margin:6px 0 14px}
.chart text{font-size:11px;fill:#333}.chart text.shade{font-size:10px;fill:#8a1111}
.bar{height:9px;background:#1f77b4;min-width:1px}.bar.err{background:#d62728}
.wf{position:relative;width:320px;background:#f5f5f7}
ul.reasons{margin:6px 0 10px;padding-left:20px}
details{margin:4px 0 10px}summary{cursor:pointer}
"""


def esc(value: object) -> str:
    """Any value as escaped text."""
    return escape(str(value), quote=True)


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number for a table cell; ``-`` for nothing measured."""
    if value is None:
        return "-"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def badge(status: str) -> str:
    """A coloured status label (``pass``, ``fail``, ``inconclusive``, ``n/a``)."""
    css = "na" if status == "n/a" else status
    return f'<span class="badge {esc(css)}">{esc(status)}</span>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    table_id: str = "",
) -> str:
    """A table of already-escaped cells; ``numeric`` columns right-aligned."""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of plain text (escaped here)."""
    cls = f' class="{esc(css)}"' if css else ""
    return f"<p{cls}>{esc(text)}</p>"


def section(ident: str, title: str, body: Iterable[str]) -> str:
    """A titled section of the page."""
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{"".join(body)}</section>'


def page(title: str, body: Iterable[str]) -> str:
    """The whole document: no script, no external resource."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )
