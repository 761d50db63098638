#!/usr/bin/env bash
# Stores the job's OIDC credentials (set in the environment by configure-aws-credentials) under
# the profile name samconfig.toml gives the environment, which sam and tools.deploy then use.
set -euo pipefail
profile=$1
aws configure set --profile "$profile" aws_access_key_id "$AWS_ACCESS_KEY_ID"
aws configure set --profile "$profile" aws_secret_access_key "$AWS_SECRET_ACCESS_KEY"
aws configure set --profile "$profile" aws_session_token "$AWS_SESSION_TOKEN"
aws configure set --profile "$profile" region "$AWS_REGION"
