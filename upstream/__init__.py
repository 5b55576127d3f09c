"""The upstream side: hookline as a *client* of the upstream APIs.

``blend`` validates ``POST /v1/blend``; ``mjproxy`` and ``useapi`` speak each API (``client`` is
what they share); ``submitter`` sends queued blends, ``reconciler`` polls jobs whose callbacks got
lost and times out the ones that never finish, ``archiver`` keeps result images in the
content-addressed ``archive``; ``images`` downloads outside images through the egress guard.
"""
