"""post(): one Telegram Update posted to tgdesk's webhook, for the load
generators inside the integration tests (import it with the test directory
on sys.path)."""
import json
import urllib.request


def post(url, secret, update, timeout=60):
    """Posts update (a dict) to url with the webhook secret; returns the HTTP
    status code, or the error's text when there was no answer."""
    r = urllib.request.Request(url, json.dumps(update).encode(), {
        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
    try:
        return urllib.request.urlopen(r, timeout=timeout).status
    except Exception as e:  # an HTTP error carries its code; anything else, its text
        return getattr(e, "code", str(e))
