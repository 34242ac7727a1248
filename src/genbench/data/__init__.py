"""Dataset sources, raw file formats, download and preprocessing."""
