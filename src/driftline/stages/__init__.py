"""One module per dvc.yaml stage (and ingest, which adds data): each imports the library, never another stage."""
