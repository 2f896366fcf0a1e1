"""Unify: identity resolution into user and account profiles, computed traits, Profile API.

See ``docs/identity.md``. ``IdentityService`` wires the pieces: rules (``rules``), the
identifier extraction (``identifiers``), the in-memory graph (``graph``), the pipeline
stage (``stage``), persistence (``store`` protocol, ``duckdb_store``), computed traits
(``computed``) and re-resolution (``replay``).
"""

from shoal.identity.service import IdentityService
from shoal.identity.stage import IdentityStage

__all__ = ["IdentityService", "IdentityStage"]
