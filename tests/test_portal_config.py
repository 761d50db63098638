"""tools/portal_config.py: portal.yaml checked offline, then planned and applied to a Stripe
account (the local stand-in, over real HTTP with the real SDK), one configuration per stack."""

from __future__ import annotations

import dataclasses
import io
import re
import socket
import typing
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from billing_portal.domain.flows import FLOW_FEATURES
from billing_portal.domain.request import Flow
from testing import fake_stripe as stand_in_module
from testing.fake_stripe import DEFAULT_API_KEY, FakeStripe
from tools import portal_config, samconfig

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "portal.yaml"
CONFIGURATIONS = "/v1/billing_portal/configurations"
DEV = samconfig.Environment(name="dev", stack_name="billing-portal-dev", region=None, profile=None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    status = portal_config.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out.splitlines(), err.splitlines()


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portal.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The dev environment's AWS profile, answered by moto; no Stripe variables in the shell."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile billing-portal-dev]\nregion = us-east-1\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stripe_env(aws: None, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe) -> FakeStripe:
    """dev's test-mode key where its function reads it; Stripe played by the stand-in."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    name = samconfig.load("default").stripe_key_location
    ssm.put_parameter(Name=name, Value=DEFAULT_API_KEY, Type="SecureString")
    monkeypatch.setattr(portal_config, "API_BASE", fake_stripe.url)
    return fake_stripe


def managed(fake: FakeStripe) -> list[dict]:
    return [c for c in fake.configurations.values() if c["metadata"].get("managed_by")]


# --- check --------------------------------------------------------------------------------------


def test_the_domain_knows_the_feature_of_every_flow_the_function_deep_links() -> None:
    # A flow added to domain/request.py without its feature in domain/flows.py would go
    # unchecked (by this tool and by the readiness check); the stand-in plays Stripe's own map.
    assert set(FLOW_FEATURES) == set(typing.get_args(Flow))
    assert FLOW_FEATURES == stand_in_module.FLOW_FEATURES


def test_the_shipped_file_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", str(SHIPPED)) == (0, [f"{SHIPPED}: ok"], [])


FEATURES_OK = """\
  customer_update: {enabled: true}
  invoice_history: {enabled: true}
  payment_method_update: {enabled: true}
  subscription_pause: {enabled: true}
  subscription_update:
    enabled: true
    default_allowed_updates: [price, quantity]
    products: [{product: prod_demo, prices: [price_pro]}]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "features:\n  invoice_history: {enabled: true}\n"
            "  subscription_cancle: {enabled: true}\n",
            "features.subscription_cancle: not a field of Stripe's portal configuration; "
            "did you mean subscription_cancel?",
        ),
        (
            f"features:\n{FEATURES_OK}  subscription_cancel: {{enabled: true, mode: whenever}}\n",
            "features.subscription_cancel.mode: Input should be 'at_period_end' or 'immediately' "
            "(got 'whenever')",
        ),
        (
            f"features:\n{FEATURES_OK}  subscription_cancel: {{enabled: false}}\n",
            "features.subscription_cancel.enabled: must be true: the function deep-links "
            "flow=subscription_cancel (with it off, users get 409 flow-unavailable)",
        ),
        (
            f"features:\n{FEATURES_OK.replace('[price, quantity]', '[quantity]')}"
            "  subscription_cancel: {enabled: true}\n",
            "features.subscription_update.default_allowed_updates: must include price "
            "(subscription_update_confirm takes price=...)",
        ),
        ("features: [\n", "not valid YAML at line 2"),
        ("business_profile: {headline: Hi}\n", "features: required"),
    ],
)
def test_a_broken_file_is_one_plain_line_naming_the_field_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = written(tmp_path, text)

    assert run(capsys, "check", str(path)) == (1, [], [f"portal_config: {path}: {expected}"])


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"RetentionCouponId": "stay20"},
            "features.subscription_cancel.enabled: must be true to offer RetentionCouponId=stay20",
        ),
        (
            {"UpdatePromotionCode": "promo_Back10"},
            "features.subscription_update.default_allowed_updates: must include promotion_code "
            "(UpdatePromotionCode=promo_Back10)",
        ),
    ],
)
def test_check_holds_the_file_against_the_deployments_settings(
    tmp_path: Path, parameters: dict[str, str], expected: str
) -> None:
    # Cancellation off also stops the deep link; with a retention coupon, check says why too.
    path = written(tmp_path, f"features:\n{FEATURES_OK}  subscription_cancel: {{enabled: false}}\n")
    env = samconfig.Environment("dev", "billing-portal-dev", None, None, parameters=parameters)

    with pytest.raises(portal_config.PortalConfigError) as refused:
        portal_config.load(path, env)

    assert expected in refused.value.problems[-1]


def test_check_requires_only_the_features_of_the_flows_the_deployment_offers(
    tmp_path: Path,
) -> None:
    # A company that never lets customers pause, cancel or change plans in a deep link.
    no_pause = FEATURES_OK.replace("  subscription_pause: {enabled: true}\n", "")
    path = written(tmp_path, f"features:\n{no_pause}  subscription_cancel: {{enabled: false}}\n")
    flows = "payment_method_update,customer_update,subscription_update"
    offered = samconfig.Environment("dev", "billing-portal-dev", None, None, {"PortalFlows": flows})
    every = samconfig.Environment("dev", "billing-portal-dev", None, None, {"PortalFlows": ""})

    assert portal_config.load(path, offered).features.subscription_cancel.enabled is False
    with pytest.raises(portal_config.PortalConfigError) as refused:
        portal_config.load(path, every)
    assert [p.split(": ", 2)[1] for p in refused.value.problems] == [
        "features.subscription_cancel.enabled",
        "features.subscription_pause.enabled",
    ]


def test_a_portal_flows_value_that_is_no_flow_is_one_line(tmp_path: Path) -> None:
    path = written(tmp_path, f"features:\n{FEATURES_OK}  subscription_cancel: {{enabled: true}}\n")
    env = samconfig.Environment("dev", "billing-portal-dev", None, None, {"PortalFlows": "pause"})

    with pytest.raises(portal_config.PortalConfigError) as refused:
        portal_config.load(path, env)

    assert refused.value.problems == (
        f"{path}: PortalFlows: pause is no flow (flows: "
        "customer_update, payment_method_update, subscription_cancel, subscription_pause, "
        "subscription_update, subscription_update_confirm)",
    )


# --- plan and apply -------------------------------------------------------------------------------


def test_plan_then_apply_creates_it_and_a_second_apply_changes_nothing(
    stripe_env: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    status, planned, _ = run(capsys, "plan", str(SHIPPED), "--env", "default")
    assert status == 0
    assert "no configuration of this deployment yet: apply creates one with" in planned
    assert "  + features.subscription_cancel.mode: 'at_period_end'" in planned

    first = run(capsys, "apply", str(SHIPPED), "--env", "default")
    [config] = managed(stripe_env)
    second = run(capsys, "apply", str(SHIPPED), "--env", "default")

    where = "billing-portal-dev's Stripe account (test mode)"
    assert first == (0, [f"applied {SHIPPED} to {where}: created {config['id']}"], [])
    assert second == (
        0,
        [f"no changes: {where} already has {SHIPPED}'s content: {config['id']}"],
        [],
    )
    digest = portal_config.content_hash(portal_config.load(SHIPPED))
    assert config["metadata"] == {
        "managed_by": "billing-portal",
        "account": "123456789012",
        "region": "us-east-1",
        "stack": "billing-portal-dev",
        "content_sha256": digest,
    }
    assert config["features"]["subscription_pause"]["enabled"] is True
    # Two applies: one create, and nothing written the second time.
    assert len(stripe_env.calls("POST", CONFIGURATIONS)) == 1


def test_a_dashboard_edit_is_never_reused_and_apply_makes_the_files_content_anew(
    stripe_env: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    # dev as the tool resolves it (moto's account and region), so the CLI's plan finds it.
    dev = dataclasses.replace(DEV, account="123456789012", region="us-east-1")
    config_id, _ = portal_config.apply(
        SHIPPED, dev, api_key=DEFAULT_API_KEY, api_base=stripe_env.url
    )
    features = stripe_env.configurations[config_id]["features"]
    features["subscription_cancel"]["mode"] = "immediately"  # someone used the Dashboard
    features["subscription_pause"]["enabled"] = False

    _, planned, _ = run(capsys, "plan", str(SHIPPED), "--env", "default")
    new_id, created = portal_config.apply(
        SHIPPED, dev, api_key=DEFAULT_API_KEY, api_base=stripe_env.url
    )

    assert planned[1:] == [
        f"{config_id} was made for this content but edited since: not reused",
        f"no configuration has this content ({planned[2].split('(')[1][:12]}): apply creates "
        f"one, differing from {config_id} (the newest) in 2 field(s)",
        "  ~ features.subscription_cancel.mode: 'immediately' -> 'at_period_end'",
        "  ~ features.subscription_pause.enabled: False -> True",
    ]
    # Never updated in place: the version deployed with the edited one keeps what it had.
    assert created and new_id != config_id
    assert stripe_env.configurations[config_id]["features"] is features
    assert stripe_env.configurations[new_id]["features"]["subscription_pause"]["enabled"]


def test_a_changed_file_is_a_new_configuration_and_the_old_one_stays_until_pruned(
    stripe_env: FakeStripe, tmp_path: Path
) -> None:
    changed = tmp_path / "portal.yaml"
    changed.write_text(SHIPPED.read_text().replace("mode: at_period_end", "mode: immediately", 1))
    first, _ = portal_config.apply(SHIPPED, DEV, api_key=DEFAULT_API_KEY, api_base=stripe_env.url)
    second, created = portal_config.apply(
        changed, DEV, api_key=DEFAULT_API_KEY, api_base=stripe_env.url
    )
    assert created and second != first
    assert stripe_env.configurations[first]["active"]
    deactivated = portal_config.deactivate_unused(
        DEV, {second}, api_key=DEFAULT_API_KEY, api_base=stripe_env.url
    )
    assert deactivated == [first]
    assert not stripe_env.configurations[first]["active"]
    assert stripe_env.configurations[stripe_env.default_configuration]["active"]
    # Back to the first content: found again by its hash, reactivated, not created anew.
    assert portal_config.apply(SHIPPED, DEV, api_key=DEFAULT_API_KEY, api_base=stripe_env.url) == (
        first,
        False,
    )
    assert stripe_env.configurations[first]["active"]


def test_each_stack_has_its_own_configuration_in_a_shared_account(stripe_env: FakeStripe) -> None:
    prod = samconfig.Environment("prod", "billing-portal-prod", None, None)

    dev_id, _ = portal_config.apply(SHIPPED, DEV, api_key=DEFAULT_API_KEY, api_base=stripe_env.url)
    prod_id, _ = portal_config.apply(
        SHIPPED, prod, api_key=DEFAULT_API_KEY, api_base=stripe_env.url
    )

    assert dev_id != prod_id
    assert {c["metadata"]["stack"] for c in managed(stripe_env)} == {
        "billing-portal-dev",
        "billing-portal-prod",
    }


def test_a_key_stripe_rejects_is_one_line_and_exit_1(
    stripe_env: FakeStripe, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stripe_env, "api_keys", set())  # the key was rolled at Stripe

    status, _, err = run(capsys, "apply", str(SHIPPED), "--env", "default")

    assert (status, err) == (1, ["portal_config: Stripe rejected the API key"])


# --- the key --------------------------------------------------------------------------------------


def test_the_key_comes_from_the_environments_parameter_never_the_shell(
    stripe_env: FakeStripe, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = run(capsys, "apply", str(SHIPPED), "--env", "default")
    assert status == 0
    [call] = stripe_env.calls("POST", CONFIGURATIONS)
    assert call.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"

    # Left exported from local work: refused, not used.
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_other_account")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")
    status, _, err = run(capsys, "apply", str(SHIPPED), "--env", "prod")
    print(err)  # for the report
    assert (status, err) == (
        1,
        [
            "portal_config: STRIPE_API_KEY and STRIPE_API_BASE set in the shell: prod uses the "
            f"key its function reads ({samconfig.load('prod').stripe_key_location}); unset them"
        ],
    )


def test_a_key_of_the_wrong_mode_for_the_environment_is_refused(
    stripe_env: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = samconfig.load("prod")
    assert prod.environment_type == "prod"
    # prod's key location, in an account moto plays for both profiles' region.
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name=prod.stripe_key_location, Value="sk_test_fake", Type="SecureString")
    with pytest.raises(portal_config.PortalConfigError) as refused:
        portal_config.stripe_key(dataclasses.replace(prod, profile="billing-portal-dev"))
    print(refused.value)  # for the report
    assert str(refused.value) == (
        f"the key in {prod.stripe_key_location} is a test-mode key; "
        "EnvironmentType=prod needs a live-mode key"
    )
    assert stripe_env.requests == []


def test_the_marker_names_account_region_and_stack(
    stripe_env: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "apply", str(SHIPPED), "--env", "default")[0] == 0
    [config] = managed(stripe_env)
    assert {k: v for k, v in config["metadata"].items() if k != "content_sha256"} == {
        "managed_by": "billing-portal",
        "account": "123456789012",  # moto's
        "region": "us-east-1",
        "stack": "billing-portal-dev",
    }
    # The same stack name in another region is another deployment: its own configuration.
    other = dataclasses.replace(DEV, account="123456789012", region="eu-west-1")
    other_id, created = portal_config.apply(
        SHIPPED, other, api_key=DEFAULT_API_KEY, api_base=stripe_env.url
    )
    assert created and other_id != config["id"]


def test_a_key_that_cannot_be_read_is_one_line_naming_where(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    name = samconfig.load("default").stripe_key_location

    status, _, err = run(capsys, "plan", str(SHIPPED), "--env", "default")

    assert (status, err) == (
        1,
        [f"portal_config: cannot read the Stripe key from {name}: ParameterNotFound"],
    )


def test_a_profile_this_machine_lacks_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A new user's machine: no ~/.aws, no key in the environment; samconfig.toml names a profile.
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    env = samconfig.load("default")
    assert env.profile == "billing-portal-dev"

    for command in ("plan", "apply"):
        status, out, err = run(capsys, command, str(SHIPPED), "--env", "default")

        assert (status, out) == (1, [])
        assert err == [
            f"portal_config: cannot read the Stripe key from {env.stripe_key_location}: the AWS "
            "profile 'billing-portal-dev' (samconfig.toml, --env default) is not configured on "
            "this machine; create it (aws configure --profile billing-portal-dev) or set "
            "STRIPE_API_KEY"
        ]


def test_no_aws_credentials_at_all_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    # No instance metadata service to ask, as on a laptop.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    no_profile = samconfig.Environment(
        name="default", stack_name="billing-portal-dev", region="us-east-1", profile=None
    )
    monkeypatch.setattr(samconfig, "load", lambda name: no_profile)

    status, _, err = run(capsys, "plan", str(SHIPPED), "--env", "default")

    assert (status, len(err)) == (1, 1)
    assert err[0].startswith(
        f"portal_config: cannot read the Stripe key from {no_profile.stripe_key_location}: "
        "no AWS credentials found"
    )


def test_a_file_not_in_utf8_is_one_line_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "portal.yaml"
    path.write_bytes("name: billing\nbusiness_profile: {headline: Caf\xe9}\n".encode("latin-1"))

    assert run(capsys, "check", str(path)) == (
        1,
        [],
        [f"portal_config: {path}: not UTF-8 text at line 2; save it as UTF-8"],
    )


def test_a_stripe_api_base_nobody_answers_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        base = f"http://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setenv("STRIPE_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("STRIPE_API_BASE", base)

        status, _, err = run(capsys, "plan", str(SHIPPED), "--env", "local")

    assert (status, err) == (
        1,
        [
            f"portal_config: the Stripe API at {base} could not be reached (Connection refused); "
            "check STRIPE_API_BASE"
        ],
    )


def test_the_key_is_never_a_command_line_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        portal_config.main(["apply", str(SHIPPED), "--env", "default", "--key", "sk_test_x"])

    assert usage.value.code == 2
    capsys.readouterr()


# --- the local demo ----------------------------------------------------------------------------


def test_the_local_demo_applies_portal_yaml_and_its_portal_page_lists_the_features() -> None:
    from local.server import DevServer

    with DevServer(port=0, out=io.StringIO()) as server:
        stand_in = server.stripe
        assert stand_in is not None
        [config] = managed(stand_in)
        # A click on the demo's Billing form, following the 303 to the stand-in's portal page.
        form = urllib.parse.urlencode({"return_url": server.url}).encode()
        with urllib.request.urlopen(f"{server.url}billing/portal", data=form) as page:  # noqa: S310
            text = page.read().decode()

    assert f"<dd>{config['id']}</dd>" in text  # the session used the applied configuration
    assert re.findall(r"<li>([^<]*)</li>", text) == [
        "Update billing details: email, address, tax_id",
        "Invoice history",
        "Update payment method",
        "Cancel subscriptions: at_period_end, proration none; asks why: too_expensive, "
        "missing_features, switched_service, unused, other",
        "Pause subscriptions",
        "Change plan (price, quantity, promotion_code): prod_demo (price_basic, price_pro, "
        "price_premium)",
    ]


def test_env_local_takes_the_shells_key_and_stand_in(
    monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    status, out, _ = run(capsys, "apply", str(SHIPPED), "--env", "local")
    [config] = managed(fake_stripe)
    assert status == 0 and out[-1].endswith(f"created {config['id']}")
    assert config["metadata"]["stack"] == "billing-portal-local"
