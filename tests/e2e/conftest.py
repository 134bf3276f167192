from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.instance import Instance


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    inst = Instance(tmp_path)
    inst.write_config()
    return inst
