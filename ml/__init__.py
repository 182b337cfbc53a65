"""ML stage: training, model registry, prediction write-back (issue 5; not built yet)."""
