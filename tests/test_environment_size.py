"""Lambda refuses a function whose environment variables take more than 4 KB together, and
CloudFormation then fails the deploy half-way. A large but ordinary setup must fit, with room."""

from __future__ import annotations

from testing.deployments import LARGE_SETUP as LARGE
from tools.cfn import ENVIRONMENT_LIMIT, Stack


def test_a_large_setup_fits_in_lambdas_4_kb_with_room_to_spare() -> None:
    size = Stack(**LARGE).environment_size()

    assert size <= ENVIRONMENT_LIMIT * 0.75, f"{size} bytes of {ENVIRONMENT_LIMIT}"


def test_each_setting_stands_in_the_environment_once() -> None:
    stack = Stack(**LARGE)
    text = "".join(stack.environment().values())

    assert text.count("tenant-07.app.example-company.com") == 1
    assert text.count("x" * 500) == 1
    assert stack.settings()["ALLOWED_ORIGINS"] == LARGE["AllowedOrigins"]


def test_a_setting_that_looks_like_markup_is_counted_not_refused() -> None:
    message = "Your plan changes <b>today</b>; see <https://app.example.com/help>."

    stack = Stack(HostedConfirmationMessage=message)

    assert stack.settings()["HOSTED_CONFIRMATION_MESSAGE"] == message
    assert stack.environment_size() < ENVIRONMENT_LIMIT
