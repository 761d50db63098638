#!/usr/bin/env bash
# One request to the deployed endpoint, as a caller would send it. Without a token it must be
# refused with 401 (the route and its authorizer are in place); with SMOKE_TOKEN (a test user's
# JWT) it must answer 200 with a Stripe portal URL, which proves the issuer, audience, table,
# Stripe key and portal configuration together. The URL itself is never printed.
set -euo pipefail
stack=$1
url=$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query "Stacks[0].Outputs[?OutputKey=='BillingPortalUrl'].OutputValue" --output text)
status=$(curl -s -o /dev/null -w '%{http_code}' "$url")
if [ "$status" != 401 ]; then
  echo "smoke: GET $url without a token answered $status, not 401"
  exit 1
fi
echo "smoke: GET without a token: 401"
if [ -n "${SMOKE_TOKEN:-}" ]; then
  body=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $SMOKE_TOKEN" \
    -H 'Accept: application/json' "$url")
  status=${body##*$'\n'}
  if [ "$status" != 200 ] || ! grep -q '"url": *"https://billing.stripe.com/' <<<"${body%$'\n'*}"; then
    echo "smoke: GET with SMOKE_TOKEN answered $status: ${body%$'\n'*}" | sed 's#https://billing.stripe.com/[^"]*#<session url>#'
    exit 1
  fi
  echo "smoke: GET with a test user's token: 200 and a portal session"
fi
