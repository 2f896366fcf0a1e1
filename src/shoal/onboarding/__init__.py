"""Guided setup: from a business goal and use case to a verified prod setup."""

from shoal.onboarding.capabilities import connected_destination_count
from shoal.onboarding.flow import Eligibility, SetupError, SetupService
from shoal.onboarding.repo import SetupRecord
from shoal.onboarding.view import setup_view

__all__ = [
    "Eligibility",
    "SetupError",
    "SetupRecord",
    "SetupService",
    "connected_destination_count",
    "setup_view",
]
