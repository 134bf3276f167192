"""Alert delivery (DESIGN §9): the one stage that sends every domain's alerts to Alertmanager and webhooks.

    domain topics ──► decide.py (which alerts fire/resolve: schemas/alerts.py) ──► targets.py (HTTP)
                          └──► AlertDelivered on watchman.events.alerts + consumer position, one transaction

It lives in the shell, not in processors/, because it acts on the world (HTTP) and must commit its
position only after the receivers acknowledged: a processor is pure and commits with its outputs.
"""
