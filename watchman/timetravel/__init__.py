"""The timetravel domain (issue 25): follow the log (`tail`, webhook subscriptions), ask the graph as it was
at a time (`query --at`, a replay of the log cut at that time), and list what changed before an event
(`why`, `timeline`). It adds no events of its own: it reads what every other domain wrote."""
