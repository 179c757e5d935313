"""Identity: who is calling (``current_principal``) and what they may do (the guards)."""

from webapi.auth.guards import (
    USER_ROLES,
    authenticated,
    current_principal,
    reauthenticate,
    require_roles,
)
from webapi.auth.principal import Principal

__all__ = [
    "USER_ROLES",
    "Principal",
    "authenticated",
    "current_principal",
    "reauthenticate",
    "require_roles",
]
