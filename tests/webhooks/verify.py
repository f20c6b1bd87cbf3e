"""Verify one webhook with the official Standard Webhooks library.

stdin: {"secret": "whsec_…", "body": "<raw body>", "headers": {…}}
exit 0 and prints "verified" when it verifies, exit 1 with the error otherwise.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
try:
    Webhook(request["secret"]).verify(request["body"], request["headers"])
except Exception as error:  # the library's WebhookVerificationError and friends
    print(f"refused: {error!r}")
    sys.exit(1)
print("verified")
