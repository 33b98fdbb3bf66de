"""The spec's webhooks: status changes written to an outbox in their own transaction, delivered
signed, in order per project, at least once (docs/runtime.md, Webhooks).

``policy`` (events, destinations, signatures; imported by the config), ``outbox`` (rows and
subscriptions in the database), ``dispatcher`` (delivery lanes), ``service`` (the whole).
"""
