"""Splitting rpm package strings: dashes in names, epochs in either place, arches, and junk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.packages.nevra import Evr, Nevra, parse_evr, parse_nevra, split_name_arch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("htop-3.2.2-1.fc39.x86_64", Nevra("htop", None, "3.2.2", "1.fc39", "x86_64")),
        (
            "perl-Data-Dumper-2.183-1.fc39.noarch",
            Nevra("perl-Data-Dumper", None, "2.183", "1.fc39", "noarch"),
        ),
        ("openssl-1:3.1.1-4.fc39.x86_64", Nevra("openssl", "1", "3.1.1", "4.fc39", "x86_64")),
        ("1:openssl-3.1.1-4.fc39.x86_64", Nevra("openssl", "1", "3.1.1", "4.fc39", "x86_64")),
        ("htop-0:3.3.0-3.fc40.x86_64", Nevra("htop", None, "3.3.0", "3.fc40", "x86_64")),
        ("glibc-2.38-16.fc39.i686", Nevra("glibc", None, "2.38", "16.fc39", "i686")),
        ("kernel-core-6.6.11-200.fc39.aarch64", Nevra("kernel-core", None, "6.6.11", "200.fc39", "aarch64")),
        ("bash-5.2.26-3.fc40.src", Nevra("bash", None, "5.2.26", "3.fc40", "src")),
        ("dnf-4.2.17-7.el8_2.noarch", Nevra("dnf", None, "4.2.17", "7.el8_2", "noarch")),
        ("python3.12-3.12.1-2.fc39.x86_64", Nevra("python3.12", None, "3.12.1", "2.fc39", "x86_64")),
        ("gpg-pubkey-350d275d-6279464b", Nevra("gpg-pubkey", None, "350d275d", "6279464b", None)),
        ("crudini-0.9-11.el8ost.1", Nevra("crudini", None, "0.9", "11.el8ost.1", None)),
        ("vim-enhanced-2:9.1.016-1.fc39.x86_64", Nevra("vim-enhanced", "2", "9.1.016", "1.fc39", "x86_64")),
    ],
)
def test_parse_nevra(text: str, expected: Nevra) -> None:
    assert parse_nevra(text) == expected


def test_derived_forms() -> None:
    nevra = parse_nevra("openssl-1:3.1.1-4.fc39.x86_64")
    assert nevra is not None
    assert (nevra.vr, nevra.evr) == ("3.1.1-4.fc39", "1:3.1.1-4.fc39")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "htop",
        "htop-3.2.2.x86_64",
        "nodashes.x86_64",
        "x:a-y:1-2",
        "1:foo-2:1.0-1.x86_64",
        "foo bar-1-1",
        "-1-1",
    ],
)
def test_not_a_nevra(text: str) -> None:
    assert parse_nevra(text) is None


def test_parse_evr_and_name_arch() -> None:
    assert parse_evr("1:3.1.1-4.fc39") == Evr("1", "3.1.1", "4.fc39")
    assert parse_evr("0:3.1.1-4.fc39") == Evr(None, "3.1.1", "4.fc39")
    assert parse_evr("3.1.1") is None
    assert parse_evr("a:3.1.1-1") is None
    assert split_name_arch("glibc.i686") == ("glibc", "i686")
    assert split_name_arch("python3.12") == ("python3.12", None)


_part = st.text(st.sampled_from("abcXYZ0123456789._+~^"), min_size=1, max_size=8).filter(
    lambda s: s[0] != "."
)
_name = st.lists(_part, min_size=1, max_size=4).map("-".join)


@given(
    name=_name,
    epoch=st.one_of(st.none(), st.integers(1, 99).map(str)),
    version=_part,
    release=_part,
    arch=st.sampled_from(["x86_64", "noarch", "i686", "aarch64", "src", "ppc64le"]),
)
def test_nevra_round_trip(name: str, epoch: str | None, version: str, release: str, arch: str) -> None:
    evr = f"{epoch}:{version}-{release}" if epoch else f"{version}-{release}"
    assert parse_nevra(f"{name}-{evr}.{arch}") == Nevra(name, epoch, version, release, arch)
