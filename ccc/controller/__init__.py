"""The imperative shell: watches, batching, executing decisions, status, Events, metrics."""
