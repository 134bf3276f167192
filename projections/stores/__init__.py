"""Graph-store adapters (I/O). Pure projection modules never import this package."""
