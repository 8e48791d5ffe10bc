"""Pages people read offline, built from what the layers below recorded: the run index (index.py), the ledger,
the timeline and the pull request's report."""
