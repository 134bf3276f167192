"""The Obsidian vault sync producer: pure vault-file helpers (vaultfiles), the git and rsync syncer
(git_sync) and the source (source)."""
