"""Parameter sets the template and deploy tests share."""

from __future__ import annotations

# A Secrets Manager secret's ARN (where the key is), not a secret.
KEY_STORE_ARN = (
    "arn:aws:secretsmanager:eu-central-1:123456789012:secret:billing-portal/prod/stripe-AbCdEf"
)
# An ordinary large setup: 16 origins, the longest confirmation message, a key by ARN,
# in-function auth with a cookie, a role gate.
LARGE_SETUP = {
    "AllowedOrigins": ",".join(f"https://tenant-{n:02}.app.example-company.com" for n in range(16)),
    "DefaultReturnUrl": "https://tenant-00.app.example-company.com/settings/billing",
    "ErrorRedirectUrl": "https://tenant-00.app.example-company.com/billing/error",
    "HostedConfirmationMessage": "x" * 500,
    "StripeApiKeySecret": KEY_STORE_ARN,
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
