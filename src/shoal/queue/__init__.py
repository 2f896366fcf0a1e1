"""The durable hand-off between the HTTP edge and the pipeline.

Backends register by URL scheme; ``open_queue(url)`` picks one. The embedded default is
SQLite in WAL mode (``sqlite:///path``).
"""

from shoal.queue.base import Delivery, Queue, QueueCapabilities
from shoal.queue.registry import QUEUES, open_queue

__all__ = ["QUEUES", "Delivery", "Queue", "QueueCapabilities", "open_queue"]
