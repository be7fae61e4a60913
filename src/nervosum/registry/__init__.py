"""The local registry of built bundles under NERVOSUM_HOME: the SQLite index (``store.py``),
filters and references (``select.py``), export (``archive.py``)."""
