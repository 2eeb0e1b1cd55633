"""Where a run's rows go: a SQLite database (with its schema and views) or memory.

    sqlite.py  the SQLite recorder: one file per run, locked while written
    memory.py  the in-memory recorder: DataFrames, no file
    schema.py  every table's columns (defined once), event kinds, indexes
    views.py   one SQL view per concept of the paper
"""
