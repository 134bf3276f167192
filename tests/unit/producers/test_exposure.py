"""The exposure parsers on this machine's own /proc/net tables (sockets the test opens) and on cgroup
lines as systemd and Docker write them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exposure.procnet import is_loopback, listening, owner


def test_the_sockets_this_test_opens_are_read_back_with_their_inodes() -> None:
    tcp4 = socket.socket()
    tcp4.bind(("127.0.0.1", 0))
    tcp4.listen()
    tcp6 = socket.socket(socket.AF_INET6)
    tcp6.bind(("::1", 0))
    tcp6.listen()
    udp = socket.socket(type=socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    connected = socket.create_connection(tcp4.getsockname())
    try:
        got4 = listening(Path("/proc/self/net/tcp").read_text(), "tcp")
        got6 = listening(Path("/proc/self/net/tcp6").read_text(), "tcp")
        gotu = listening(Path("/proc/self/net/udp").read_text(), "udp")
        ino = {s: os.fstat(s.fileno()).st_ino for s in (tcp4, tcp6, udp)}
        assert ("127.0.0.1", tcp4.getsockname()[1], ino[tcp4]) in got4
        assert ("::1", tcp6.getsockname()[1], ino[tcp6]) in got6
        assert ("0.0.0.0", udp.getsockname()[1], ino[udp]) in gotu
        # The established connection's two ends are not listeners.
        assert connected.getsockname()[1] not in {p for _, p, _ in got4}
    finally:
        for s in (tcp4, tcp6, udp, connected):
            s.close()


def test_garbage_lines_are_skipped() -> None:
    text = "  sl  local_address rem_address   st\n   0: zz:0050 00000000:0000 0A\nshort line\n"
    assert listening(text, "tcp") == []


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1")


def test_cgroup_owner() -> None:
    assert owner("0::/system.slice/nginx.service\n") == ("nginx.service", None)
    cid = "4f" * 32
    assert owner(f"0::/system.slice/docker-{cid}.scope\n") == (None, cid)
    assert owner(f"12:pids:/docker/{cid}\n11:memory:/docker/{cid}\n") == (None, cid)
    assert owner("0::/user.slice/user-1000.slice/session-2.scope\n") == ("session-2.scope", None)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_never_crashes_the_table_parser(text: str) -> None:
    for protocol in ("tcp", "udp"):
        for address, port, inode in listening(text, protocol):
            assert 0 <= port <= 0xFFFF and inode >= 0 and address
    owner(text)
