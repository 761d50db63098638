"""The README and docs/: every relative link lands on a file and a heading, the README stays a
few screens, and every template parameter they name (a CamelCase code span, or `Name=` in an
override) is one template.yaml has. Links to other sites (http, https, mailto) are not followed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testing.markdown import markdown_lines
from tools.cfn import sam_template

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_LIMIT = 10_240  # bytes

HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
# [text](target) or [text](target "title"); images ![alt](target) are links to files too.
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    return [line for line, fenced in markdown_lines(text) if not fenced]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: the rendered text lowercased, punctuation except
    hyphens, underscores and spaces dropped, each space a hyphen."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = text.replace("*", "")  # emphasis markers (write emphasis with *, not _, in headings)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor in a document; a repeated slug gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """The targets of the document's links, outside code blocks and code spans."""
    targets: list[str] = []
    for line in prose_lines(text):
        targets += LINK.findall(CODE_SPAN.sub("", line))
    return targets


def broken_links(path: Path, text: str | None = None) -> list[str]:
    """The relative links in the markdown file at `path` (or `text`, read as if it were that
    file) that name a missing file or a heading the target does not have."""
    text = path.read_text(encoding="utf-8") if text is None else text
    broken: list[str] = []
    for target in links(text):
        if not target or EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        if not file_part:
            linked, headings = path, anchors(text)
        else:
            linked = (path.parent / file_part).resolve()
            if not linked.exists():
                broken.append(f"{target}: no such file")
                continue
            if not anchor:
                continue
            if linked.suffix != ".md":
                broken.append(f"{target}: an anchor into a file that is not markdown")
                continue
            headings = anchors(linked.read_text(encoding="utf-8"))
        if anchor and anchor not in headings:
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def test_the_docs_folder_holds_the_reference() -> None:
    assert {path.name for path in DOCS} >= {
        "parameters-and-responses.md",
        "authentication.md",
        "customers-table.md",
        "operations.md",
        "performance.md",
        "development.md",
    }


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda path: path.name)
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_readme_stays_a_few_screens() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move reference into docs/"


def test_readme_links_into_every_docs_file() -> None:
    linked = {target.partition("#")[0] for target in links(README.read_text(encoding="utf-8"))}
    assert {f"docs/{path.name}" for path in DOCS} <= linked


# --- The checker itself: it must report what it is there to catch. ----------------------------


def test_checker_reports_a_missing_heading_a_missing_file_and_nothing_else(
    tmp_path: Path,
) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Set up\n")
    page = tmp_path / "page.md"
    text = (
        "# Billing accounts: the customers table\n"
        "[fine](#billing-accounts-the-customers-table) [bad](#billing-accounts)\n"
        "[fine](other.md#set-up) [bad](other.md#setup) [bad](missing.md)\n"
        "[external](https://example.com/#anything) `[in code](#nowhere)`\n"
        "```md\n[in a fence](#nowhere)\n```\n"
    )

    assert broken_links(page, text) == [
        "#billing-accounts: no heading #billing-accounts in page.md",
        "other.md#setup: no heading #setup in other.md",
        "missing.md: no such file",
    ]


def test_slugs_follow_githubs_rules() -> None:
    text = (
        "# Cross-origin requests (CORS and CSRF)\n"
        "## `AuthMode=function` + `AuthCookieName`\n"
        "## Return URLs\n"
        "## Return URLs\n"
        "## Return URLs\n"
        "```\n# not a heading\n```\n"
    )

    assert anchors(text) == {
        "cross-origin-requests-cors-and-csrf",
        "authmodefunction--authcookiename",
        "return-urls",
        "return-urls-1",
        "return-urls-2",
    }


# --- The docs name only parameters the template has ------------------------------------------

# CamelCase words in code that look like parameters but are other things.
NOT_PARAMETERS = {
    # the function's metrics (handler/billing_portal/observability.py)
    "PortalSessionCreated",
    "AuthFailures",
    "MissingBillingAccounts",
    "UpstreamFailures",
    "RejectedRequests",
    "FlowsUnavailable",
    "MissingCustomers",
    "UnhandledErrors",
    "BillingPortal",  # the metric namespace's prefix
    # AWS names
    "KeySchema",
    "ProvisionedThroughputExceeded",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ConcurrentExecutions",
    "GetSecretValue",
    "GetParameter",
    "GetItem",
    "UpdateItem",
    "SecureString",
    "ServerlessRepo",
    "RetentionInDays",
    "DeletionPolicy",
    "CodeUri",
    "KmsKeyId",
    "DeploymentPreference",
    "AutoPublishAliasAllProperties",
    "UpdatePolicy",
    "DependsOn",
    "FailedAnswers",  # the function's 5xx answers by version (a metric filter)
    "DisableExecuteApiEndpoint",
    "DescribeStacks",
    "GetFunctionConfiguration",  # Lambda's and API Gateway's, in deploy.md's check
    "RoutingConfig",
    "AdditionalVersionWeights",
    "GetIntegrations",
    # template parameters of the lead's template change (issue 31 item 5); drop once it lands
    "EvaluateLowSampleCountPercentile",
    "DeletionProtectionEnabled",
    "NoRegionError",  # botocore's, in development.md
    "BoundedJWKClient",  # a class of web/tokens.py, in authentication.md
    "StripeClient",  # the stripe SDK's client, in performance.md
    "UpdateUserAttributes",  # Cognito's API actions, in authentication.md
    "AdminUpdateUserAttributes",
    # cookie attributes
    "SameSite",
    "HttpOnly",
}

CAMEL = r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+"

WHOLE_CAMEL = re.compile(rf"^{CAMEL}$")

ASSIGNED = re.compile(rf"(?<![\w-])({CAMEL})=")

CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def named_in(text: str) -> set[str]:
    """The parameter-like names in a markdown text: a whole code span such as `AuthMode`, and
    every `Name=` (a parameter override) in code spans and fenced blocks."""
    names: set[str] = set()
    for line, fenced in markdown_lines(text):
        if fenced:
            names.update(ASSIGNED.findall(line))
            continue
        for span in CODE_SPAN.finditer(line):
            code = span.group(2).strip()
            if WHOLE_CAMEL.match(code):
                names.add(code)
            names.update(ASSIGNED.findall(code))
    return names


def _template_names() -> set[str]:
    template = sam_template()
    return {
        name
        for part in ("Parameters", "Resources", "Outputs", "Conditions", "Rules")
        for name in template.get(part, {})
    }


def unknown_names(text: str) -> set[str]:
    return named_in(text) - _template_names() - NOT_PARAMETERS


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda path: path.name)
def test_every_parameter_the_docs_name_is_in_the_template(path: Path) -> None:
    assert unknown_names(path.read_text(encoding="utf-8")) == set(), (
        "not in template.yaml (a misspelling, or add it to NOT_PARAMETERS if it is not meant "
        "as a template name)"
    )


def test_every_template_parameter_is_documented() -> None:
    named = set().union(*(named_in(path.read_text(encoding="utf-8")) for path in [README, *DOCS]))

    assert set(sam_template()["Parameters"]) - named == set()


def test_the_docs_check_catches_a_misspelled_parameter() -> None:
    text = (
        "Set `AuthMode` and `JwtIsuer`.\n"
        "```sh\nsam deploy --parameter-overrides AuthMode=function JwtAudiance=abc\n```\n"
        "`Set-Cookie: s=1; HttpOnly; SameSite=Lax` and `AuthMode=function` `AUTH_COOKIE_NAME`\n"
    )

    assert unknown_names(text) == {"JwtIsuer", "JwtAudiance"}


# --- Commands as written work after the README's first command. -------------------------------

# After `python3 uvw.py ...`, uv lives in .venv-tools/ (unless the user had one): `python3 -m uv`
# is then "No module named uv". `python3 uvw.py run ...` works in every case.
STALE_COMMAND = re.compile(r"python3? -m uv\b")
# What the tools and the local server print (banners, hints, usage lines, docstrings shown by
# --help) and the files whose comments a user copies commands from. uvw.py itself names
# `python3 -m uv` as one of the places it looks for uv; .ci/run pip-installs uv first.
PRINTING = [
    *sorted(
        path
        for folder in ("local", "tools", "bench", "testing", "handler")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".js", ".html") and "botocore_data" not in path.parts
    ),
    ROOT / "portal.yaml",
    ROOT / "samconfig.toml",
]


def stale_commands(paths: list[Path]) -> list[str]:
    """`file:line: text` for each line that writes the command form that fails."""
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{number}: "
        + line.strip()
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if STALE_COMMAND.search(line)
    ]


def test_every_command_the_tools_and_the_server_print_works_after_the_readme_setup() -> None:
    assert len(PRINTING) > 20  # the scan reads the code, not an empty list
    assert stale_commands(PRINTING) == []


def test_every_command_the_docs_write_works_after_the_readme_setup() -> None:
    assert stale_commands([README, *DOCS]) == []


def test_the_command_check_catches_the_form_that_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Run `python3 uvw.py run pytest`.\n"
        "Then `python3 -m uv run sam build`,\n"
        "or python -m uv sync.\n"
    )

    assert stale_commands([page]) == [
        "page.md:2: Then `python3 -m uv run sam build`,",
        "page.md:3: or python -m uv sync.",
    ]


def test_the_readme_says_how_long_billing_js_is() -> None:
    said = re.search(
        r"\[`local/billing.js`\]\(local/billing.js\) \((\d+) lines", README.read_text()
    )
    assert said, "the README no longer says how long billing.js is"
    lines = len((ROOT / "local" / "billing.js").read_text(encoding="utf-8").splitlines())
    assert int(said.group(1)) == lines
