"""Detectors: faces (detect, align, embed, quality) and plates (detect, rectify, read, validate).

One file per back-end, registered by role and name in :mod:`skynet.detectors.registry`;
:class:`skynet.detectors.analyzer.ImageAnalyzer` runs the back-ends a model pack names;
:class:`skynet.detectors.pool.AnalyzerPool` shares analysers between camera threads and
:mod:`skynet.detectors.batching` batches their frames.
"""
