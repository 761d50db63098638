"""Adapters: the customers table (DynamoDB) and Stripe, each turning its failures into problems."""
