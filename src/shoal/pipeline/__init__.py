"""The pipeline: queue → normalize → (validate, resolve, evaluate: later stages) → store."""

from shoal.pipeline.hub import EventHub
from shoal.pipeline.runner import Pipeline, PipelineStats
from shoal.pipeline.stage import Stage

__all__ = ["EventHub", "Pipeline", "PipelineStats", "Stage"]
