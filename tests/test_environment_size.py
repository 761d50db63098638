"""Lambda refuses a function whose environment variables take more than 4 KB together, and
CloudFormation then fails the deploy half-way. A large but ordinary setup must fit, with room."""

from __future__ import annotations

from tools.cfn import ENVIRONMENT_LIMIT, Stack

SECRET_ARN = (
    "arn:aws:secretsmanager:eu-central-1:123456789012:secret:billing-portal/prod/stripe-AbCdEf"
)
# 16 origins, the longest confirmation message, a key by ARN, in-function auth, a role gate.
LARGE = {
    "AllowedOrigins": ",".join(f"https://tenant-{n:02}.app.example-company.com" for n in range(16)),
    "DefaultReturnUrl": "https://tenant-00.app.example-company.com/settings/billing",
    "ErrorRedirectUrl": "https://tenant-00.app.example-company.com/billing/error",
    "HostedConfirmationMessage": "x" * 500,
    "StripeApiKeySecret": SECRET_ARN,
    "AuthMode": "function",
    "JwtIssuer": "https://login.example-company.com/realms/customers-production",
    "JwtAudience": "billing-portal-web,billing-portal-mobile,billing-portal-admin",
    "AuthJwksUrl": "https://login.example-company.com/realms/customers-production/protocol/openid-connect/certs",
    "AuthCookieName": "__Host-example-company-session",
    "BillingRoleClaim": "https://example-company.com/claims/roles",
    "BillingRoles": "billing-admin,owner,finance",
    "UserIdClaim": "https://example-company.com/claims/org_id",
    "PortalConfigurationId": "bpc_1QxYzAbCdEfGhIjKlMnOpQrS",
    "RetentionCouponId": "retention-25-percent-3-months",
    "UpdatePromotionCode": "promo_1QxYzAbCdEfGhIjKlMnOpQrS",
    "CreateMissingCustomers": "true",
    "AfterExpirationLogin": "true",
}


def test_a_large_setup_fits_in_lambdas_4_kb_with_room_to_spare() -> None:
    size = Stack(**LARGE).environment_size()

    assert size <= ENVIRONMENT_LIMIT * 0.75, f"{size} bytes of {ENVIRONMENT_LIMIT}"


def test_each_setting_stands_in_the_environment_once() -> None:
    stack = Stack(**LARGE)
    text = "".join(stack.environment().values())

    assert text.count("tenant-07.app.example-company.com") == 1
    assert text.count("x" * 500) == 1
    assert stack.settings()["ALLOWED_ORIGINS"] == LARGE["AllowedOrigins"]
