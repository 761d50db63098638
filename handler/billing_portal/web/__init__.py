"""The HTTP edge: an API Gateway (payload 2.0) event in, a response out."""
