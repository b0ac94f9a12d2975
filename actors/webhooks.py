"""Webhook URLs: checked when an actor sets one, and POSTed only to the address checked.

Guarantee: an event reaches a webhook only by a connection to an IP address that was
checked against ``[events] webhook_hosts`` for that very delivery, never by a redirect.

1. The URL is read with urllib3's parser, the one the POST goes through, and refused
   (``BadRequestError``) when it has user information (``@`` in the authority), a
   backslash, whitespace, control or non-ASCII characters (write names in punycode and
   percent-encode the rest), a scheme other than http or https, no host, or a port
   outside 1..65535.
2. The host must be on the allow-list, compared as a name (``*`` allows any name).
   Numeric IPv4 forms (``2130706434``, ``0177.0.0.2``, ``127.1``) and IPv4-mapped IPv6
   (``::ffff:127.0.0.2``) are first normalised with ``ipaddress`` as the resolver would
   read them, so the check sees ``127.0.0.2``.
3. A name is resolved once (``socket.getaddrinfo``); every address it gives, normalised
   the same way, must be allowed: it is listed as an IP; or it is a public address and
   the host is listed (by name, or by ``*``); or it is a loopback address, the host is
   listed by name and the allow-list names loopback (127.0.0.1, ::1 or localhost).
   Other private, link-local, multicast, unspecified and reserved addresses are allowed
   only when listed as an IP.
4. ``post`` checks and resolves again at send time (a name may point elsewhere by
   then), connects to the checked address itself, sends the original Host header (for
   https also the original name for SNI and the certificate check), follows no redirect
   (a 3xx is a failed attempt) and waits at most the timeout given.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import urllib3
from requests.certs import where as default_ca_bundle
from urllib3.exceptions import ConnectTimeoutError, HTTPError, LocationParseError
from urllib3.util import parse_url

from actors.errors import BadRequestError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL = 2048                          # characters of a webhook URL
DEFAULT_PORTS = {"http": 80, "https": 443}


class DeliveryError(Exception):
    """One POST to a webhook failed (refused at send time, no connection, timeout...)."""


@dataclass(frozen=True)
class Target:
    """Where one POST goes: the checked addresses and what to tell the server."""

    scheme: str
    name: str                          # the host for SNI and the certificate (no brackets)
    host_header: str                   # host[:port] as written in the URL
    port: int
    path: str                          # path and query
    addresses: tuple[IP, ...]          # allowed, in the resolver's order


def _bad(url: str, why: str) -> BadRequestError:
    return BadRequestError(f"'webhook' {url[:200]!r} {why}")


def ip_of(text: str) -> IP | None:
    """The IP address ``text`` means to the resolver, normalised; None for a name.

    IPv6 may be in brackets; IPv4-mapped IPv6 becomes IPv4; the IPv4 forms inet_aton
    (and so getaddrinfo) accepts, such as ``2130706434`` or ``0177.0.0.2``, are read as it
    reads them.
    """
    text = text.strip("[]") if text.startswith("[") else text
    try:
        address: IP = ipaddress.ip_address(text)
    except ValueError:
        if not text or not all(c in "0123456789abcdefxABCDEFX." for c in text):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse(url: str) -> urllib3.util.Url:
    """The URL as urllib3 reads it, or a 400 naming what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise BadRequestError("'webhook' must be an http or https URL")
    if len(url) > MAX_URL:
        raise BadRequestError(f"'webhook' may have at most {MAX_URL} characters")
    if not url.isascii():
        raise _bad(url, "has non-ASCII characters; write names in punycode and percent-encode the rest")
    if any(c <= " " or c == "\x7f" for c in url):
        raise _bad(url, "has whitespace or control characters")
    if "\\" in url:
        raise _bad(url, "has a backslash")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in DEFAULT_PORTS:
        raise _bad(url, "must be an http or https URL (http://host/path)")
    authority = rest
    for end in "/?#":
        authority = authority.partition(end)[0]
    if "@" in authority:
        raise _bad(url, "has user information (an '@' before the path); webhooks take none")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise _bad(url, "is not a valid URL (check the host, and that the port is 1 to 65535)") from None
    if parsed.auth is not None:
        raise _bad(url, "has user information; webhooks take none")
    if not parsed.host:
        raise _bad(url, "has no host")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise _bad(url, f"has port {parsed.port}; it must be 1 to 65535")
    return parsed


@dataclass(frozen=True)
class AllowList:
    """``[events] webhook_hosts`` read once: names, IP addresses, and ``*``."""

    any_name: bool
    names: frozenset[str]
    ips: frozenset[IP]

    @classmethod
    def of(cls, hosts: Iterable[str]) -> AllowList:
        names, ips = set(), set()
        for entry in hosts:
            entry = entry.strip()
            address = ip_of(entry)
            if address is not None:
                ips.add(address)
            elif entry and entry != "*":
                names.add(entry.lower().rstrip("."))
        return cls("*" in hosts, frozenset(names), frozenset(ips))

    @property
    def names_loopback(self) -> bool:
        return "localhost" in self.names or any(ip.is_loopback for ip in self.ips)

    def refusal(self, address: IP, host_listed: bool) -> str | None:
        """Why ``address`` may not be posted to, or None when it may."""
        if address in self.ips:
            return None
        if address.is_loopback:
            if host_listed and self.names_loopback:
                return None
            return "a loopback address (allowed only for a listed name when 127.0.0.1, ::1 or localhost is listed)"
        kind = _special_kind(address)
        if kind:
            return f"a {kind} address (allowed only when listed as an IP in [events] webhook_hosts)"
        return None


def _special_kind(address: IP) -> str | None:
    """What makes an address non-public, or None for a public one."""
    for kind, flag in (("unspecified", address.is_unspecified), ("multicast", address.is_multicast),
                       ("link-local", address.is_link_local), ("reserved", address.is_reserved),
                       ("private", address.is_private)):
        if flag:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    return None if address.is_global else "non-global"


def _resolve(name: str, port: int) -> list[IP]:
    """Every address ``name`` resolves to, normalised, in the resolver's order, once each."""
    found: list[IP] = []
    for *_, sockaddr in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
        address = ip_of(str(sockaddr[0]).partition("%")[0])
        if address is not None and address not in found:
            found.append(address)
    return found


def check(hosts: Iterable[str], url: str) -> Target:
    """Where a POST to ``url`` may go under the allow-list ``hosts``; a 400 saying why not."""
    parsed = parse(url)
    host, scheme = parsed.host or "", (parsed.scheme or "").lower()     # parse() refused empty ones
    hosts = tuple(hosts)
    allow = AllowList.of(hosts)
    literal = ip_of(host)
    name = str(literal) if literal is not None else host.lower().rstrip(".")
    host_listed = (literal in allow.ips) if literal is not None else (name in allow.names)
    if not (host_listed or allow.any_name):
        shown = ", ".join(hosts) or "(none)"
        raise _bad(url, f"names host {name!r}; webhooks may only name these hosts: {shown}")
    port = parsed.port or DEFAULT_PORTS[scheme]
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = _resolve(name, port)
        except (OSError, UnicodeError, ValueError) as exc:
            raise _bad(url, f"names host {name!r}, which does not resolve ({exc})") from None
        if not addresses:
            raise _bad(url, f"names host {name!r}, which resolves to no address")
    for address in addresses:
        why = allow.refusal(address, host_listed)
        if why:
            raise _bad(url, f"names host {name!r}, which is {address}: {why}")
    return Target(scheme=scheme, name=name, host_header=parsed.netloc or name, port=port,
                  path=parsed.request_uri, addresses=tuple(addresses))


def post(hosts: Iterable[str], url: str, body: bytes, timeout: float, ca_certs: str | None = None) -> int:
    """POST a JSON ``body`` once; the HTTP status, or DeliveryError.

    The URL is checked and resolved again now and the connection made to the checked
    address (the next one only if a connection cannot be made). ``ca_certs`` is the CA
    bundle for https (by default the one requests uses).
    """
    try:
        target = check(hosts, url)
    except BadRequestError as exc:
        raise DeliveryError(f"refused: {exc.message}") from None
    headers = {"Host": target.host_header, "Content-Type": "application/json", "User-Agent": "abaco-events"}
    limit = urllib3.Timeout(connect=timeout, read=timeout)
    problem = "no address"
    for address in target.addresses:
        if target.scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                str(address), target.port, timeout=limit, retries=False, maxsize=1,
                server_hostname=target.name, assert_hostname=target.name,
                cert_reqs="CERT_REQUIRED", ca_certs=ca_certs or default_ca_bundle())
        else:
            pool = urllib3.HTTPConnectionPool(str(address), target.port, timeout=limit, retries=False, maxsize=1)
        try:
            response = pool.urlopen("POST", target.path, body=body, headers=headers, redirect=False,
                                    retries=False, preload_content=False, assert_same_host=False)
            response.close()
            return response.status
        except ConnectTimeoutError as exc:      # no connection to this address (NewConnectionError too)
            problem = f"{address}: {type(exc).__name__}"
        except HTTPError as exc:
            raise DeliveryError(f"{address}: {type(exc).__name__}: {exc}") from None
        finally:
            pool.close()
    raise DeliveryError(problem)
