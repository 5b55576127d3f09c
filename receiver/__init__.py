"""The receiving side: callback routes, provider adapters, correlation and the job state machine."""
