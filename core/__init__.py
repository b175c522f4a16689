"""Footnote's engine: load -> chunk -> embed -> store -> retrieve -> generate.

Nothing in this package imports Qt; it runs the same from the CLI, a test or a worker thread.
"""
