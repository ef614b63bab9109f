"""The mail worker's triggers: the notification queue and the outbox sweeper."""
