"""Talking to the testbed from an activity: its URL, the truth token, JSON over HTTP.

The URL is the experiment's ``configuration["testbed_url"]`` (usually read from the
``TESTBED_URL`` environment variable by the experiment); the truth token is the secret
``truth_token`` of the scope the provider lists (``"secrets": ["testbed"]``). Every failure is
an :class:`~chaoslib.exceptions.ActivityFailed` that says what to fix.
"""

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed

TIMEOUT_S = 5.0
URL_KEY = "testbed_url"
TOKEN_KEY = "truth_token"


def testbed_url(configuration: Mapping[str, Any] | None) -> str:
    """The testbed server's base URL from the experiment's configuration."""
    url = (configuration or {}).get(URL_KEY)
    if not url or not isinstance(url, str):
        raise ActivityFailed(
            f"the experiment's configuration has no {URL_KEY!r}: add "
            f'"{URL_KEY}": {{"type": "env", "key": "TESTBED_URL"}} to its configuration '
            "(e.g. TESTBED_URL=http://127.0.0.1:8080)"
        )
    return url.rstrip("/")


def truth_token(secrets: Mapping[str, Any] | None) -> str:
    """The truth token from the secrets the provider was given."""
    token = (secrets or {}).get(TOKEN_KEY)
    if not token or not isinstance(token, str):
        raise ActivityFailed(
            f"no truth token: declare the secret "
            f'"testbed": {{"{TOKEN_KEY}": {{"type": "env", "key": "TESTBED_TRUTH_TOKEN"}}}} '
            'and list it in the provider ("secrets": ["testbed"])'
        )
    return token


def _open(request: urllib.request.Request, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", exc.reason)
        except ValueError:
            message = exc.reason
        if exc.code in (401, 403):
            raise ActivityFailed(
                f"the testbed refused the truth token ({exc.code}: {message})"
            ) from exc
        raise ActivityFailed(
            f"{request.get_method()} {request.full_url}: {exc.code}: {message}"
        ) from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ActivityFailed(f"cannot reach the testbed at {request.full_url}: {reason}") from exc


def call(
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    method: str,
    path: str,
    body: Any = None,
    timeout: float = TIMEOUT_S,
) -> Any:
    """A token-protected JSON request to the testbed (``/testbed/faults`` and below)."""
    url = f"{testbed_url(configuration)}{path}"
    headers = {"Authorization": f"Bearer {truth_token(secrets)}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    return json.loads(_open(request, timeout))


def get_text(url: str, timeout: float = TIMEOUT_S) -> str:
    """A public GET (``/metrics``) as text; no token is sent."""
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    return _open(request, timeout).decode("utf-8")
