"""Pages a browser reads offline: the run index (index.py) and Data Docs without CDNs (datadocs.py)."""
