"""The admin API's routers: the shared ones (operate, query, commands) and one per domain with endpoints."""
