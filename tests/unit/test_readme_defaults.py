"""The README's configuration example shows the package defaults the code has (a user copies it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from watchman.domains.packages import PackageSources

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_packages_section_is_the_code_default() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "[packages]" in b]
    shown = tomllib.loads(block)["packages"]
    defaults = PackageSources().model_dump(mode="json")
    assert set(shown) == set(defaults)
    for key, value in shown.items():
        assert value == defaults[key], key
