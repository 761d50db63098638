"""The API on a custom domain (ApiDomainName, ApiCertificateArn, ApiHostedZoneId): the domain, its
mapping at the root and its DNS records, the execute-api URL turned off so the domain is the one
way in; without a zone, where to point the DNS; half a setup refused."""

from __future__ import annotations

import pytest

from tools.cfn import ACCOUNT, Stack

CERTIFICATE = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"

DOMAIN = {
    "ApiDomainName": "billing.example.com",
    "ApiCertificateArn": CERTIFICATE,
    "ApiHostedZoneId": "Z0123456789ABCDEFGHIJ",
}


def execute_api_disabled(stack: Stack) -> bool:
    [server] = stack.resources["BillingApi"]["Properties"]["Body"]["servers"]
    disabled: bool = server["x-amazon-apigateway-endpoint-configuration"][
        "disableExecuteApiEndpoint"
    ]
    return disabled


def test_a_custom_domain_gets_the_domain_its_mapping_and_its_record() -> None:
    stack = Stack(**DOMAIN)
    resources = stack.resources

    assert resources["ApiDomain"]["Properties"] == {
        "DomainName": "billing.example.com",
        "DomainNameConfigurations": [
            {
                "CertificateArn": CERTIFICATE,
                "EndpointType": "REGIONAL",
                "SecurityPolicy": "TLS_1_2",
                "IpAddressType": "dualstack",
            }
        ],
    }
    # At the domain's root: the function routes on /billing/portal, with no base path before it.
    assert resources["ApiDomainMapping"]["Properties"] == {
        "DomainName": "<ApiDomain>",
        "ApiId": "<BillingApi>",
        "Stage": "<BillingApiApiGatewayDefaultStage>",
    }
    assert resources["BillingApiApiGatewayDefaultStage"]["Properties"]["StageName"] == "$default"
    for record, kind in (("ApiDomainRecord", "A"), ("ApiDomainRecordIpv6", "AAAA")):
        assert resources[record]["Properties"] == {
            "HostedZoneId": "Z0123456789ABCDEFGHIJ",
            "Name": "billing.example.com",
            "Type": kind,
            "AliasTarget": {
                "DNSName": "<ApiDomain.RegionalDomainName>",
                "HostedZoneId": "<ApiDomain.RegionalHostedZoneId>",
                "EvaluateTargetHealth": False,
            },
        }
    assert stack.outputs["BillingPortalUrl"] == "https://billing.example.com/billing/portal"
    # The custom domain is the one way in, so a WAF or CloudFront before it cannot be bypassed.
    assert execute_api_disabled(stack) is True
    assert "ExecuteApiUrl" not in stack.outputs
    assert stack.rule_failures() == []


def test_without_a_hosted_zone_the_output_says_where_to_point_the_dns() -> None:
    stack = Stack(ApiDomainName="billing.example.com", ApiCertificateArn=CERTIFICATE)

    assert {"ApiDomain", "ApiDomainMapping"} <= set(stack.resources)
    assert "ApiDomainRecord" not in stack.resources
    assert stack.outputs["ApiDomainTarget"] == "<ApiDomain.RegionalDomainName>"


def test_without_a_domain_there_is_only_the_execute_api_url() -> None:
    stack = Stack()

    assert not {"ApiDomain", "ApiDomainMapping", "ApiDomainRecord"} & set(stack.resources)
    assert "ApiDomainTarget" not in stack.outputs
    assert stack.outputs["BillingPortalUrl"] == (
        "https://<BillingApi>.execute-api.us-east-1.amazonaws.com/billing/portal"
    )
    assert execute_api_disabled(stack) is False


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"ApiDomainName": "billing.example.com"}, "DomainNeedsCertificate"),
        ({"ApiCertificateArn": CERTIFICATE}, "CertificateAndZoneNeedDomain"),
        ({"ApiHostedZoneId": "Z0123456789ABCDEFGHIJ"}, "CertificateAndZoneNeedDomain"),
    ],
)
def test_half_a_domain_setup_is_refused_before_anything_is_created(
    overrides: dict[str, str], rule: str
) -> None:
    assert Stack(**overrides).rule_failures() == [rule]
