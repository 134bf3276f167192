"""`python -m watchman` is the `watchman` command."""

from watchman.cli import main

main()
