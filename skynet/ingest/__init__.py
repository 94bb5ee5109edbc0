"""Ingest: decoding images and video streams into frames with camera and timestamp.

``sources`` opens streams and files, ``worker`` runs one camera (reader + watchdog, pacing,
analysis, tracking, publication), ``cameras`` runs a set of them, ``status`` reports on them.
"""
