"""Ingestion: reading files and pages into text, chunking, and the guarded parse worker."""
