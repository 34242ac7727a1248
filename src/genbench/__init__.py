"""genbench: one reproducible DAG from raw images to an HTML report."""
