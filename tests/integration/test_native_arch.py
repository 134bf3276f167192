"""The host's native architecture, asked of the real package manager."""

from __future__ import annotations

import shutil
import subprocess

from producers.packages.arch import native_arch


def test_deb_native_arch_is_what_dpkg_prints() -> None:
    dpkg = shutil.which("dpkg")
    assert dpkg, "this test runs on Debian"
    expected = subprocess.run([dpkg, "--print-architecture"], capture_output=True, text=True, check=True)
    assert native_arch("deb") == expected.stdout.strip()


def test_brew_has_no_native_arch() -> None:
    assert native_arch("brew") is None
