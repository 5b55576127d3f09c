"""The SQLite backend (the embedded default): ``driver``, ``claims`` and its migrations."""
