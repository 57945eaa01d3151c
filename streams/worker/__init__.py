"""The worker role: the catalog agent and the event batches, from topic to rec:{user}."""
