"""The journald producer: journal entries -> JournalEntryObserved on watchman.raw.journal."""
