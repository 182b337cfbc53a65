"""ML stage: read fct_features, train LightGBM with purged time-series CV, register models, write predictions back."""
