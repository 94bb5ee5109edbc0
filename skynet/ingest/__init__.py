"""Ingest: decoding images and video streams into frames with camera and timestamp."""
