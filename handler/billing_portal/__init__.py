"""billing-portal: a signed-in user's click -> their Stripe customer-portal session.

Layers, inner to outer (imports only point inward):
    errors, domain/   plain types and pure rules
    settings, budget  configuration and the time budget every timeout comes from
    portal            the use case: user + request -> session URL
    adapters/         DynamoDB and Stripe
    web/              the HTTP edge: event -> request -> response
    factory, app      wiring: build(environ) -> handler; the Lambda entry point
"""
