"""The delivering side: fan-out, signing, the retry policy, the egress guard and the worker."""
