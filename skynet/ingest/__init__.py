"""Ingest: decoding video streams and files into frames with camera and timestamp.

``sources`` opens streams and files, ``worker`` runs one camera (reader + watchdog, pacing,
analysis, tracking, publication), ``cameras`` runs the set of them (started, restarted and
stopped one by one), ``status`` reports on them.
"""
