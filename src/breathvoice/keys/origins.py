"""Which names the server answers to, and which web pages may call it.

Two browser attacks reach a server on loopback without a key:

- **DNS rebinding**: a page on ``evil.example`` makes its name resolve to 127.0.0.1 and then
  reads the server as if it were its own site. The browser still sends
  ``Host: evil.example``, so every request and socket handshake must name the server by a
  loopback name (``localhost``, 127.0.0.0/8, ``::1``), the host of ``public_base_url``, the
  address the server binds (unless a wildcard) or a name in ``BREATHVOICE_PUBLIC_HOSTS``.
- **Cross-site requests**: any page may POST a form to http://127.0.0.1:8000 or open a
  socket to it. Browsers say which page did with ``Origin``; while no key is configured,
  a request whose ``Origin`` is not the server's own is refused. Clients that are not
  browsers send no ``Origin`` and are let in. With keys, the key is the authority (there
  are no cookies to ride on), so any origin may call.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from breathvoice.errors import Forbidden
from breathvoice.keys.access import is_loopback_host

_DEFAULT_PORTS = {"http": 80, "https": 443}
_WILDCARDS = {"0.0.0.0", "::", "[::]", ""}  # noqa: S104 (names, not a bind)


def host_name(authority: str) -> str:
    """The name in a ``Host`` value (``[::1]:8000`` gives ``::1``), lower case."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    if authority.count(":") == 1:
        authority = authority.split(":", 1)[0]
    return authority.rstrip(".")


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or an ``Origin`` value; None if it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.rstrip("."), port or _DEFAULT_PORTS[scheme]


class OriginPolicy:
    """Checks the ``Host`` and ``Origin`` of requests and socket handshakes."""

    def __init__(self, public_hosts: Iterable[str] = (), public_base_url: str | None = None,
                 bind_host: str | None = None) -> None:
        self._hosts = {host_name(name) for name in public_hosts if name.strip()}
        self._public_origin = _origin_of(public_base_url) if public_base_url else None
        if self._public_origin is not None:
            self._hosts.add(self._public_origin[1])
        if bind_host is not None and bind_host not in _WILDCARDS:
            self._hosts.add(host_name(bind_host))

    def allows_host(self, authority: str | None) -> bool:
        """Whether a request with this ``Host`` is for this server (no Host: not a browser)."""
        if authority is None:
            return True
        name = host_name(authority)
        return is_loopback_host(name) or name in self._hosts

    def check_host(self, authority: str | None) -> None:
        if not self.allows_host(authority):
            raise Forbidden(f"this server does not answer to the host name in the request "
                            f"({host_name(authority or '')!r}); its operator can list it in "
                            "BREATHVOICE_PUBLIC_HOSTS")

    def is_own_origin(self, origin: str, scheme: str, authority: str | None) -> bool:
        """Whether ``Origin`` is the server's: the scheme, host and port of the request
        itself (``scheme`` is the request's, ``http``/``ws`` or ``https``/``wss``) or of
        ``public_base_url``."""
        found = _origin_of(origin)
        if found is None:
            return False
        if found == self._public_origin:
            return True
        if authority is None:
            return False
        web_scheme = "https" if scheme in ("https", "wss") else "http"
        return found == _origin_of(f"{web_scheme}://{authority}")

    def check_origin(self, origin: str | None, scheme: str, authority: str | None) -> None:
        """Refuse a page from another site (only called while no key is configured)."""
        if origin is not None and not self.is_own_origin(origin, scheme, authority):
            raise Forbidden("requests from other web sites are refused while this server "
                            "has no API key; call it from its own pages or without a browser")
