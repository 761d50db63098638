"""The domain: plain types and pure rules, with no I/O and no AWS, Stripe or HTTP event."""
