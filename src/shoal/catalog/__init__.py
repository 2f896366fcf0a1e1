"""Business goals and use cases: what Segment recommends tracking and connecting for each."""

from shoal.catalog.model import (
    DESTINATION_TYPES,
    SOURCE_TYPES,
    BusinessGoal,
    Catalog,
    CatalogLookupError,
    DistinctUseCase,
    SuggestedEvent,
    SuggestedProperty,
    UseCase,
    load_catalog,
    parse_catalog,
    slugify,
)

__all__ = [
    "DESTINATION_TYPES",
    "SOURCE_TYPES",
    "BusinessGoal",
    "Catalog",
    "CatalogLookupError",
    "DistinctUseCase",
    "SuggestedEvent",
    "SuggestedProperty",
    "UseCase",
    "load_catalog",
    "parse_catalog",
    "slugify",
]
