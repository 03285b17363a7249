"""Where load may go: URL checks and the two-key host allowlist.

A host receives load only when both keys agree: the plan lists it in
``target.allowHosts`` *and* the operator allows it on the machine that runs the load
(``PEAKOPS_ALLOWED_HOSTS`` or ``--allow-host``), like chaos namespaces. Loopback needs
only the plan's key. A plan is a file anyone may edit in a pull request; the
environment of the machine that runs it is the operator's. Pure: no DNS, no I/O.

URLs with credentials (``user:pass@``) are refused, never echoed: a URL ends up in
``run.json``, logs and reports. Wildcard addresses (``0.0.0.0``, ``::``, ``*``) are
refused: they name no host, and mean "everything" to anyone who reads them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from slo.errors import UsageError

__all__ = [
    "ALLOWED_HOSTS_ENV",
    "LOOPBACK",
    "check_url",
    "host_entry_problem",
    "is_loopback",
    "mask_url",
    "normalise_host",
    "normalise_url",
    "operator_hosts",
    "url_host",
]

LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
"""Hosts the operator allows by default: load to them cannot leave the machine."""

ALLOWED_HOSTS_ENV: Final = "PEAKOPS_ALLOWED_HOSTS"
"""The operator's allowlist: hosts separated by commas or spaces."""

_WILDCARDS = frozenset({"", "*", "0.0.0.0", "::"})
_SPLIT = re.compile(r"[,\s]+")
_AUTHORITY = re.compile(r"^(?:[^:/?#]*:)?(?://)?(?P<authority>[^/?#]*)")


def mask_url(url: str) -> str:
    """``url`` for display, with anything that may be userinfo replaced by ``***``.

    Errs on the safe side: everything after the scheme up to the last ``@`` is hidden,
    so a password holding a raw ``/``, ``?`` or ``#`` is hidden too (and so is an ``@``
    in a path or query: this is for messages, not for sending).
    """
    scheme, sep, rest = url.partition("://")
    head, rest = (scheme + sep, rest) if sep else ("", url)
    at = rest.rfind("@")
    return url if at < 0 else f"{head}***{rest[at:]}"


def normalise_host(host: str) -> str:
    """A host as compared: lowercase, without IPv6 brackets or a trailing dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host[:-1] if host.endswith(".") and host != "." else host


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    host = normalise_host(host)
    if host in LOOPBACK:
        return True
    address = _address(host)
    return address is not None and address.is_loopback


def host_entry_problem(entry: str) -> str | None:
    """Why ``entry`` cannot be an allowlist entry (a bare host or IP), or ``None``."""
    host = normalise_host(entry)
    if _is_wildcard(host):
        return f"{entry!r} is a wildcard, not a host: list each host load may go to"
    if "://" in host or "/" in host or "@" in host:
        return f"{entry!r} is not a host: write the host name or IP address alone, not a URL"
    if ":" in host and not isinstance(_address(host), ipaddress.IPv6Address):
        return f"{entry!r} is not a host: write it without a port (any port of it is allowed)"
    return None


def normalise_url(url: str) -> str:
    """``url`` checked as an http(s) URL to send load to, normalised; raises ``ValueError``.

    Refused: anything but ``http``/``https`` with a host, credentials in it, a wildcard
    host. Normalised: scheme and host lowercased, no trailing slash on the path (base
    URLs are joined with ``/route``); an explicit port, the query and fragment are kept.
    The message never carries the credentials.
    """
    return _checked(url)[0]


def url_host(url: str) -> str:
    """The normalised host of a URL ``normalise_url`` accepts; raises ``ValueError``."""
    return _checked(url)[1]


def check_url(
    url: str,
    *,
    field: str,
    plan_hosts: Iterable[str],
    operator_hosts: Iterable[str],
) -> str:
    """``url`` normalised, if load may go there; else a ``UsageError`` naming ``field``.

    The host must be in ``plan_hosts`` (the plan's ``target.allowHosts``) and, unless it
    is loopback, in ``operator_hosts`` (see ``operator_hosts()``). Pure: call it before
    any connection is made.
    """
    try:
        normalised, host = _checked(url)
    except ValueError as err:
        raise UsageError(f"{field}: {err}") from None  # a cause would quote the raw URL
    planned = list(dict.fromkeys(normalise_host(entry) for entry in plan_hosts))
    if host not in planned:
        listed = ", ".join(planned) or "none"
        raise UsageError(
            f"{field}: host {host!r} is not in the plan's allowHosts ({listed}): "
            "add it to target.allowHosts"
        )
    allowed = {normalise_host(entry) for entry in operator_hosts}
    if not is_loopback(host) and host not in allowed:
        raise UsageError(
            f"{field}: host {host!r} is allowed by the plan but not by the operator: "
            f"set {ALLOWED_HOSTS_ENV}={host} or pass --allow-host {host}"
        )
    return normalised


def operator_hosts(env: str | None, flags: Sequence[str]) -> frozenset[str]:
    """The hosts the operator allows: ``PEAKOPS_ALLOWED_HOSTS`` plus ``--allow-host`` flags.

    Both may list several hosts separated by commas or spaces. Loopback is not added
    (``check_url`` allows it anyway). Raises ``UsageError`` for a wildcard or an entry
    that is not a bare host.
    """
    sources = [(ALLOWED_HOSTS_ENV, env or ""), *(("--allow-host", flag) for flag in flags)]
    hosts: set[str] = set()
    for where, text in sources:
        for entry in filter(None, _SPLIT.split(text)):
            problem = host_entry_problem(entry)
            if problem:
                raise UsageError(f"{where}: {problem}")
            hosts.add(normalise_host(entry))
    return frozenset(hosts)


def _checked(url: str) -> tuple[str, str]:
    """``(normalised url, normalised host)``, or ``ValueError`` with a masked message."""
    match = _AUTHORITY.match(url.strip())
    if match and "@" in match["authority"]:
        raise ValueError(
            f"credentials in the URL ({mask_url(url)}) are refused: a URL is written to "
            "run.json, logs and reports; give the target its credentials another way"
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"invalid URL {mask_url(url)!r}: expected http(s)://host[:port][/path]")
    host = normalise_host(parts.hostname or "")
    if not host:
        raise ValueError(f"invalid URL {mask_url(url)!r}: it names no host")
    if _is_wildcard(host):
        raise ValueError(
            f"host {host!r} is a wildcard address, not a host: "
            "name the host to send load to, e.g. 127.0.0.1"
        )
    netloc = f"[{host}]" if ":" in host else host
    netloc += "" if port is None else f":{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), netloc, path, parts.query, parts.fragment)), host


def _is_wildcard(host: str) -> bool:
    if host in _WILDCARDS or "*" in host:
        return True
    address = _address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_unspecified


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address, or ``None`` for a name.

    Includes the short IPv4 forms the system resolver accepts (``0`` is ``0.0.0.0``,
    ``127.1`` is ``127.0.0.1``, ``0x7f.1``): a wildcard must not slip through as one.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    return _inet_aton(host)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """BSD ``inet_aton`` forms: 1 to 4 parts, decimal, octal (``0``) or hex (``0x``)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        base = 16 if part[:2] in ("0x", "0X") else 8 if part[:1] == "0" and part != "0" else 10
        digits = part[2:] if base == 16 else part
        try:
            numbers.append(int(digits, base) if digits.isalnum() and digits.isascii() else -1)
        except ValueError:
            return None
    *head, last = numbers
    if any(not 0 <= n <= 255 for n in head) or not 0 <= last < 256 ** (4 - len(head)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last
    return ipaddress.IPv4Address(value)
