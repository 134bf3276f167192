"""The Docker producer: pure conversion of Engine API objects (convert) and the I/O source (source)."""
