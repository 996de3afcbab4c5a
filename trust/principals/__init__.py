"""Principals and roles: organisations (departments and companies, identified by their unified
social credit code, GB 32100-2015), staff users with roles per organisation, service clients of
department systems, and the staff API tokens the CLI issues.

Kernel package: imports no capability, no key custody and no web framework. The web layer
authenticates requests through ``trust.principals.service.authenticate_client`` and
``authenticate_bearer`` and hands routes a frozen ``Principal``.
"""

from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import CLIENT_ROLES, Grant, OrgKind, Role, satisfies

__all__ = ["CLIENT_ROLES", "Grant", "OrgKind", "Principal", "PrincipalKind", "Role", "satisfies"]
