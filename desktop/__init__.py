"""The app: entry point, CLI, wiring and worker threads."""
