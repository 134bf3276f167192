"""Reports: documents assembled from the catalog's named questions (each domain keeps its questions)."""
