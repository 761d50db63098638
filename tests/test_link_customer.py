"""tools/link_customer.py's mistakes, each one plain line (linking itself: test_customers.py,
and --local against the local server: test_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import link_customer


def test_no_region_is_one_line_saying_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no region anywhere boto3 looks (environment, profile, config file)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    code = link_customer.main(["user-1", "cus_New", "--table", "customers"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == (
        "link_customer: no AWS region; pass --region (e.g. --region eu-west-1), set "
        "AWS_REGION or a profile's region, or --local URL for the local server\n"
    )


def test_local_takes_only_a_loopback_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        link_customer.main(["user-1", "cus_New", "--local", "https://dynamodb.amazonaws.com"])

    assert usage.value.code == 2
    assert "is not the local server's DynamoDB" in capsys.readouterr().err
