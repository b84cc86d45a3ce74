"""Registry webhooks: validating them, building and signing deliveries, sending them.

The SQL registry stores webhooks and calls in here after a write commits; receivers
verify deliveries with :func:`federate.webhooks.signing.verify`.
"""
