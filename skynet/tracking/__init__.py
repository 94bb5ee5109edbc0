"""Tracking faces and plates across frames, and turning finished tracks into sightings.

Import from the modules (``skynet.tracking.tracker``, ``skynet.tracking.sink``, ...): this package imports none of
them, so that reading a track record does not load the tracker's library (norfair, with SciPy: about a second)."""
