"""Endpoint strings as users write them, turned into a gRPC target.

Accepted forms (all seen in the wild, see REFERENCE.md section 5)::

    dns:///host:port    host:port    host    [::1]:8090
    http://host[:port]  https://host[:port]

``tls`` records what the scheme said: True for ``https``, False for ``http``, None when
the string carried no scheme (the caller's ``insecure`` flag decides).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .._errors import ConfigurationError

__all__ = ["Endpoint", "console_url", "parse_endpoint"]

# RFC 1123 host names; underscores are tolerated because internal DNS names use them.
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint. ``target`` is what ``grpc.aio.*_channel`` takes (``host:port``)."""

    target: str
    host: str
    port: int
    tls: bool | None

    @property
    def netloc(self) -> str:
        """``host:port`` with IPv6 hosts in brackets (same as ``target``)."""
        return self.target

    def host_for_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


def _bad(endpoint: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"invalid endpoint {endpoint!r}: {why}")


def _split_host_port(raw: str, original: str) -> tuple[str, int | None]:
    if raw.startswith("["):  # IPv6 literal
        close = raw.find("]")
        if close < 0:
            raise _bad(original, "unclosed '[' in IPv6 address")
        host, rest = raw[1:close], raw[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad(original, f"{host!r} is not an IPv6 address") from None
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise _bad(original, "expected ':port' after the IPv6 address")
        return host, _port(rest[1:], original)
    if raw.count(":") > 1:
        raise _bad(original, "IPv6 addresses must be written in brackets, e.g. [::1]:8090")
    host, sep, port_text = raw.partition(":")
    if not host or not _HOST_RE.match(host):
        raise _bad(original, f"{host!r} is not a host name")
    return host, (_port(port_text, original) if sep else None)


def _port(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _bad(original, f"port {text!r} is not a number between 1 and 65535")
    return int(text)


def parse_endpoint(endpoint: str, *, insecure: bool | None = None) -> Endpoint:
    """Parse ``endpoint``; raise :class:`ConfigurationError` naming it when it is junk.

    ``insecure`` only picks the default port of a scheme-less endpoint without a port:
    80 when insecure, 443 otherwise.
    """
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigurationError(f"invalid endpoint {endpoint!r}: it is empty")
    text = endpoint.strip()
    tls: bool | None = None
    if "://" in text and not text.startswith("dns:"):
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _bad(endpoint, f"unsupported scheme {parts.scheme!r} (use https://, http:// or dns:///)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise _bad(endpoint, "an endpoint has no path, query or fragment")
        if parts.username or parts.password:
            # Do not echo the password back in the error.
            shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}"
            raise _bad(shown, "credentials do not belong in the endpoint")
        tls = scheme == "https"
        rest = parts.netloc
    elif text.startswith("dns:"):
        # gRPC name syntax dns:[//authority/]host[:port]; the authority is ignored.
        rest = text[4:]
        if rest.startswith("//"):
            slash = rest.find("/", 2)
            if slash < 0:
                raise _bad(endpoint, "expected dns:///host:port")
            rest = rest[slash + 1 :]
    else:
        rest = text
    rest = rest.rstrip("/")
    if not rest or "/" in rest or any(c.isspace() for c in rest):
        raise _bad(endpoint, "expected host, host:port, dns:///host:port or http(s)://host[:port]")
    host, port = _split_host_port(rest, endpoint)
    if port is None:
        port = 80 if (tls is False or (tls is None and insecure)) else 443
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Endpoint(target=target, host=host, port=port, tls=tls)


def console_url(
    endpoint: str,
    *,
    insecure: bool,
    project: str,
    domain: str,
    run_name: str,
    action: str | None = None,
) -> str:
    """The web console page of a run (or of one action when ``action`` is given).

    ``{http|https}://{host[:port]}/v2/domain/{domain}/project/{project}/runs/{name}[?i={action}]``;
    the port is dropped only when it is the scheme's default.
    """
    ep = parse_endpoint(endpoint, insecure=insecure)
    secure = ep.tls if ep.tls is not None else not insecure
    scheme = "https" if secure else "http"
    default = 443 if secure else 80
    netloc = ep.host_for_url() if ep.port == default else f"{ep.host_for_url()}:{ep.port}"
    return run_page_url(f"{scheme}://{netloc}", project=project, domain=domain, run_name=run_name, action=action)


def run_page_url(base: str, *, project: str, domain: str, run_name: str, action: str | None = None) -> str:
    """``base`` + the run page's path; each name is one percent-encoded path segment (a "/" or
    "?" in it must not end the segment)."""

    def seg(value: str) -> str:
        return quote(str(value), safe="")

    url = f"{base.rstrip('/')}/v2/domain/{seg(domain)}/project/{seg(project)}/runs/{seg(run_name)}"
    return url + (f"?i={seg(action)}" if action else "")
