"""The Segment-compatible HTTP edge: ``/v1/*`` routes that put events on the queue."""
