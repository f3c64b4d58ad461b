"""Checks webhook requests with the providers' own Python libraries: slack_sdk's
SignatureVerifier and the standardwebhooks package's Webhook.verify.

Reads a JSON array of cases on stdin, each {scheme, secret, headers: [[name, value]...],
body_base64}, and writes one JSON array with one {"ok": true} or {"ok": false, "error"} per
case, in order. Schemes it does not own are answered {"skipped": true}."""
import base64
import json
import sys

from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook


def check(case):
    body = base64.b64decode(case["body_base64"])
    headers = {k.lower(): v for k, v in case["headers"]}
    scheme = case["scheme"]
    if scheme == "slack":
        verifier = SignatureVerifier(signing_secret=case["secret"])
        if not verifier.is_valid_request(body, headers):
            raise ValueError("SignatureVerifier.is_valid_request returned False")
        return "ok"
    if scheme == "standard-webhooks":
        # the signature alone: a body need not be JSON to be signed
        Webhook(case["secret"]).verify(body, headers, json_parse=False)
        return "ok"
    return "skipped"


def main():
    results = []
    for case in json.load(sys.stdin):
        try:
            outcome = check(case)
            results.append({"skipped": True} if outcome == "skipped" else {"ok": True})
        except Exception as e:  # every refusal, whatever the library raises
            results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
