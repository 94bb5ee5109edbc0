"""Skynet: faces and licence plates from city cameras, collapsed into searchable sightings.

Data flows ingest -> detectors -> tracking -> index -> api; the records shared by every
stage live in :mod:`skynet.records`.
"""

__version__ = "0.1.0"
