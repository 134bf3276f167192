"""The retention engine: plans (previews) over the graph, archives to the storage targets, restores."""
