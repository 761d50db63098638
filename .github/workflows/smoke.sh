#!/usr/bin/env bash
# After a deploy: does the stack answer its callers? Usage: smoke.sh STACK live|test
#
# 1. Always: GET BillingPortalUrl without a token must answer 401 (the route and its
#    authentication are in place). Catches a missing route or an open one; nothing about the
#    issuer, audience, table or Stripe.
# 2. Always: the readiness check, invoked on the alias `live` (what the API runs) as the
#    PreTraffic hook does: settings, the Stripe key read through the function's role and its
#    mode (`live` for prod: a test key in prod fails), the customers table, the portal
#    configuration. Catches everything behind authentication, but not JwtIssuer/JwtAudience.
# 3. With SMOKE_TOKEN (a test user's JWT, from the environment's secret): GET with the token
#    must answer 200 with a https://billing.stripe.com/ URL (or 303 there): a real portal
#    session, so the issuer, audience, JWKS, user's row, key and configuration all agree.
#
# Nothing secret is printed: the token goes to curl on standard input (not its argv), the
# session URL is never shown, and a failing answer's body is shown with any Stripe URL masked.
set -euo pipefail
if [ $# != 2 ] || { [ "$2" != live ] && [ "$2" != test ]; }; then
  echo "usage: smoke.sh STACK live|test" >&2
  exit 2
fi
stack=$1 key_mode=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

output() {
  local value
  value=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text)
  if [ -z "$value" ] || [ "$value" = None ]; then
    echo "smoke: stack $stack has no output $1" >&2
    exit 1
  fi
  printf '%s' "$value"
}

mask() { sed 's#https://billing\.stripe\.com/[^" ]*#<session url>#g'; }

url=$(output BillingPortalUrl)
function=$(output FunctionName)

# 1. No token.
status=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 30 "$url" || true)
if [ "$status" != 401 ]; then
  echo "smoke: GET $url without a token answered ${status:-no response}, not 401"
  exit 1
fi
echo "smoke: GET without a token: 401"

# 2. Readiness, on the version the API invokes.
live_key=false
[ "$key_mode" = live ] && live_key=true
aws lambda invoke --function-name "$function:live" --cli-binary-format raw-in-base64-out \
  --payload "{\"readiness\": {\"live_key\": $live_key}}" "$work/ready.json" >"$work/invoke.json"
python3 - "$function" "$work/invoke.json" "$work/ready.json" <<'PY'
import json, sys

function, invoke, ready = sys.argv[1:]
meta = json.load(open(invoke))
version = meta.get("ExecutedVersion", "?")
if meta.get("FunctionError"):
    error = json.load(open(ready)) if open(ready).read().strip() else {}
    print(f"smoke: readiness of {function}:live (version {version}) failed"
          f" ({meta['FunctionError']}): {error.get('errorType', 'error')}")
    sys.exit(1)
try:
    answer = json.load(open(ready))
    checks = answer["checks"]
    ok = answer["ready"] is True and all(check["ok"] for check in checks)
except (ValueError, KeyError, TypeError):
    print(f"smoke: readiness of {function}:live (version {version}): not a readiness answer")
    sys.exit(1)
for check in checks:
    if not check["ok"]:
        print(f"smoke: readiness: {check['name']} failed: {check['detail']}")
if not ok:
    sys.exit(1)
names = ", ".join(check["name"] for check in checks)
print(f"smoke: readiness of {function}:live (version {version}): ready ({names})")
PY

# 3. A real portal session with a test user's token.
if [ -z "${SMOKE_TOKEN:-}" ]; then
  echo "smoke: no SMOKE_TOKEN: JwtIssuer and JwtAudience were not exercised"
  exit 0
fi
result=$(printf 'header = "Authorization: Bearer %s"\n' "$SMOKE_TOKEN" |
  curl -s -K - -H 'Accept: application/json' -o "$work/body" --max-time 30 \
    -w '%{http_code} %{redirect_url}' "$url" || true)
status=${result%% *} location=${result#* }
stripe='^https://billing\.stripe\.com/'
if [ "$status" = 303 ] && [[ $location =~ $stripe ]]; then
  echo "smoke: GET with a test user's token: 303 to a portal session"
elif [ "$status" = 200 ] && python3 -c '
import json, re, sys
url = json.load(open(sys.argv[1])).get("url", "")
sys.exit(0 if re.match(r"https://billing\.stripe\.com/", url) else 1)' "$work/body" 2>/dev/null; then
  echo "smoke: GET with a test user's token: 200 and a portal session"
else
  echo "smoke: GET with SMOKE_TOKEN answered ${status:-no response}: $(head -c 500 "$work/body" | mask)"
  exit 1
fi
