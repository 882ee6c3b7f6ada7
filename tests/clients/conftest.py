import os

import pytest

from tests.clients.support import GO, GO_MODULES, build_golog


@pytest.fixture(scope="session")
def golog(tmp_path_factory):
    """tests/clients/golog built with Go's own sumdb packages."""
    missing = GO is None or not (GO_MODULES / "src/golang.org/x/mod/sumdb/tlog").is_dir()
    if missing:
        reason = "needs Go and golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return build_golog(tmp_path_factory.mktemp("golog"))
