"""The HTML report: figures, provenance and one self-contained page."""
