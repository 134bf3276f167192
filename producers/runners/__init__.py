"""The CI runners producer: GitHub Actions and GitLab runners found on the host, and their own logs."""
