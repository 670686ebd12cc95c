"""Pure-Python domain model: events, metric definitions, the rolling engine and alerts. No Beam here."""
