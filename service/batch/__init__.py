"""Scoring files: the local streaming engine, the Dask engine, the one CSV/Parquet writer, progress,
the API upload's chunk scorer and assessment ids. Imports no other part of `service`."""
