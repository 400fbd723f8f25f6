"""Finding gochat servers on the local network with DNS-SD over multicast DNS (python-zeroconf).

A server that lets others join can announce itself as ``<server name>._gochat._tcp.local.``
with TXT ``protocol=<version>``, ``tls=0|1`` and, with TLS, ``fp=<SHA-256 of its certificate,
hex>``; clients browse for that type. Both are opt-in.
No Qt here: the desktop wraps ``ServerBrowser`` in a QObject, the headless server uses
``Announcer`` directly.

Multicast DNS goes to every interface by default. ``GOCHAT_MDNS_INTERFACES`` (comma-separated
IPv4 addresses) limits it, which is how tests keep it inside a network namespace of their own.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

from gochat.protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)

SERVICE_TYPE = "_gochat._tcp.local."
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def lan_ipv4_addresses() -> list[str]:
    """Every non-loopback IPv4 address of this machine: what others on the LAN should type."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127.") and not ip.ip.startswith("169.254."):
                found.append(ip.ip)
    return sorted(set(found), key=lambda a: tuple(int(part) for part in a.split(".")))


def addresses_to_announce(bind_host: str) -> list[str]:
    """The addresses a server bound to ``bind_host`` announces: its LAN addresses when it
    listens on all interfaces (loopback where there are none, as in a test namespace)."""
    if bind_host in ("0.0.0.0", ""):
        return lan_ipv4_addresses() or ["127.0.0.1"]
    return [bind_host]


def _interfaces() -> list[str] | InterfaceChoice:
    configured = os.environ.get("GOCHAT_MDNS_INTERFACES", "").strip()
    if configured:
        return [part.strip() for part in configured.split(",") if part.strip()]
    return InterfaceChoice.All


def _zeroconf() -> Zeroconf:
    return Zeroconf(interfaces=_interfaces(), ip_version=IPVersion.V4Only)


def _instance_label(name: str) -> str:
    # DNS-SD instance names are at most 63 bytes and may not contain dots in our use.
    label = name.replace(".", " ").strip() or "gochat"
    while len(label.encode("utf-8")) > 63:
        label = label[:-1]
    return label


@dataclass(frozen=True, slots=True)
class FoundServer:
    name: str
    host: str
    port: int
    protocol: str
    tls: bool
    fingerprint: str = ""  # TXT fp: the SHA-256 of its certificate (hex), "" when it did not say

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Announcer:
    """Announces one server until ``close``."""

    def __init__(self, name: str, port: int, addresses: list[str], *, tls: bool = False, fingerprint: str = "") -> None:
        self.name = _instance_label(name)
        properties = {"protocol": str(PROTOCOL_VERSION), "tls": "1" if tls else "0"}
        if tls and fingerprint:
            properties["fp"] = fingerprint
        self._info = ServiceInfo(
            SERVICE_TYPE,
            f"{self.name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(a) for a in addresses],
            port=port,
            properties=properties,
            server=f"{socket.gethostname().split('.')[0] or 'gochat'}.local.",
        )
        self._zc: Zeroconf | None = None

    def start(self) -> None:
        """Register on the network (blocks briefly while it probes for name conflicts)."""
        self._zc = _zeroconf()
        self._zc.register_service(self._info, allow_name_change=True)
        log.info("announcing %r on the local network (%s)", self.name, SERVICE_TYPE)

    def close(self) -> None:
        if self._zc is not None:
            zc, self._zc = self._zc, None
            zc.unregister_service(self._info)
            zc.close()


class ServerBrowser:
    """Browses for gochat servers; ``on_change`` gets the full list after every change,
    called from zeroconf's threads."""

    def __init__(self, on_change: Callable[[list[FoundServer]], None]) -> None:
        self._on_change = on_change
        self._found: dict[str, FoundServer] = {}
        self._lock = threading.Lock()
        self._zc: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None

    def start(self) -> None:
        self._zc = _zeroconf()
        self._browser = ServiceBrowser(self._zc, SERVICE_TYPE, handlers=[self._changed])

    def close(self) -> None:
        if self._browser is not None:
            self._browser.cancel()
            self._browser = None
        if self._zc is not None:
            zc, self._zc = self._zc, None
            zc.close()

    def servers(self) -> list[FoundServer]:
        with self._lock:
            return sorted(self._found.values(), key=lambda s: (s.name.casefold(), s.address))

    def _changed(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                self._found.pop(name, None)
            self._on_change(self.servers())
            return
        # Resolving waits on the network; never do it on zeroconf's own thread.
        threading.Thread(target=self._resolve, args=(zeroconf, service_type, name), daemon=True).start()

    def _resolve(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
        if info is None or info.port is None:
            return
        addresses = info.parsed_addresses(IPVersion.V4Only)
        if not addresses:
            return
        properties = {k.decode(): (v or b"").decode() for k, v in info.properties.items() if isinstance(k, bytes)}
        label = name.removesuffix(f".{SERVICE_TYPE}")
        fingerprint = properties.get("fp", "").lower()
        server = FoundServer(
            label,
            addresses[0],
            info.port,
            properties.get("protocol", ""),
            properties.get("tls") == "1",
            fingerprint if _HEX_SHA256.match(fingerprint) else "",
        )
        with self._lock:
            if self._zc is None:
                return
            self._found[name] = server
        self._on_change(self.servers())
