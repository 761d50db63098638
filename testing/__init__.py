"""Stand-ins and builders shared by tests/, local/ and bench/: the Stripe stand-in (real HTTP,
Stripe's wire format), a DynamoDB that fails on purpose, an OIDC issuer with its JWKS, API
Gateway events and the customers table as template.yaml defines it. Never shipped."""
