"""The multi-host lab: network namespaces this test run creates and removes itself.

Needs root and iproute2 (it is root here and in CI); without them, or without SIPp,
Kamailio, redis-server or the SIP pcaps, the tests fail under CI=true and skip otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cluster import ci, need_peers
from netns import Lab, can_run


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A fresh lab for the module; its namespaces are deleted even when a test fails."""
    why = can_run() or need_peers()
    if why:
        if ci():
            pytest.fail(why)
        pytest.skip(why)
    lab = Lab(tmp_path_factory.mktemp("lab"))
    try:
        yield lab
    finally:
        lab.close()
    assert lab.leftovers() == []
