"""``bench`` is not an installed package (the wheel lists only the service's packages) and pytest
runs with ``--import-mode=importlib``, which leaves ``sys.path`` alone: put the repository root
on it so that these tests import ``bench.http_load`` as ``python -m bench`` does."""

from __future__ import annotations

import sys

from tests.conftest import REPO_ROOT

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
