"""A router module whose own import fails: ``load_routers`` must not hide that."""

import trust.web.routes.this_module_does_not_exist  # noqa: F401
