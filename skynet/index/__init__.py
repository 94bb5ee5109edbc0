"""Index: the sighting store (source of truth) and the derived FAISS face index."""
