"""samconfig.toml's environments (dev is [default], and prod): each its own profile, region,
stack, tags and Stripe key, and each expands without a template rule failing."""

from __future__ import annotations

import tomllib
from typing import Any

from testing.harness import ROOT
from tools.cfn import Stack, sam_template


def _samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def _overrides(environment: dict[str, Any]) -> dict[str, str]:
    items = environment["global"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in items)


def test_each_environment_has_its_own_profile_region_and_stripe_key() -> None:
    config = _samconfig()
    dev, prod = config["default"], config["prod"]

    for environment in (dev, prod):
        assert environment["global"]["parameters"]["region"]
        # Set where AWS is called, never in `global`, so that `sam validate` (CI) needs none.
        assert "profile" not in environment["global"]["parameters"]
        assert environment["deploy"]["parameters"]["profile"]
        assert environment["logs"]["parameters"]["profile"]
        assert environment["delete"]["parameters"]["profile"]
    assert dev["deploy"]["parameters"]["profile"] != prod["deploy"]["parameters"]["profile"]
    assert dev["global"]["parameters"]["stack_name"] != prod["global"]["parameters"]["stack_name"]


def test_dev_never_reads_the_live_key_by_default() -> None:
    config = _samconfig()
    dev, prod = _overrides(config["default"]), _overrides(config["prod"])
    default = sam_template()["Parameters"]["StripeApiKeyParam"]["Default"]

    assert dev["StripeApiKeyParam"] != prod["StripeApiKeyParam"]
    assert default not in (dev["StripeApiKeyParam"], prod["StripeApiKeyParam"])
    assert "prod" not in dev["StripeApiKeyParam"]
    assert "StripeApiKeySecret" not in dev
    # The dev stack's policy then names the dev parameter only.
    resource = Stack(**dev).statement("ReadStripeApiKey")["Resource"]
    assert resource.endswith(f":parameter{dev['StripeApiKeyParam']}")


def test_every_environment_expands_without_a_rule_failing() -> None:
    for environment in _samconfig().values():
        if isinstance(environment, dict):
            assert Stack(**_overrides(environment)).rule_failures() == []


def test_prod_alarms_reach_a_person_and_canary_while_dev_deploys_at_once() -> None:
    prod, dev = (_overrides(_samconfig()[name]) for name in ("prod", "default"))
    assert prod["EnvironmentType"] == "prod" and prod["AlarmEmail"]
    assert "DeploymentType" not in prod  # the template's canary
    assert dev["DeploymentType"] == "CodeDeployDefault.LambdaAllAtOnce"


def test_every_environment_tags_its_stack_and_so_every_resource() -> None:
    for name in ("default", "prod"):
        tags = _samconfig()[name]["deploy"]["parameters"]["tags"]
        expected = "dev" if name == "default" else "prod"
        assert tags == f"project=billing-portal environment={expected}"
