"""The backups domain's engine: the streamed archive format (archive.py), what a backup reads (inputs.py),
and the keys that encrypt it (keys.py). Used by the backups executor and CLI; no other domain imports it."""
