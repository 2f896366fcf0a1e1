"""The pipeline: queue → normalize → (validate, resolve, evaluate: later stages) → store."""

from shoal.pipeline.hub import EventHub
from shoal.pipeline.runner import Pipeline, PipelineStats

__all__ = ["EventHub", "Pipeline", "PipelineStats"]
