"""Why a push to Grafana failed, as one line naming the Grafana URL and the fix.

Every failure of :mod:`dashboards.grafana_client` is a :class:`GrafanaError`;
the subclass says which kind, for callers (and tests) that tell them apart.
The token never appears in a message: Grafana's own text is passed through
:func:`server_message`, which removes it should a server ever echo it.
"""

from __future__ import annotations

from typing import Any

import requests

#: What to do when the token may not do something: folders and dashboards need Editor ...
EDITOR_HINT = "use a service account token with the Editor role"
#: ... and the datasource needs Admin (Grafana lets only Admins read or write datasources).
ADMIN_HINT = "use a service account token with the Admin role, or --skip-datasource to leave the datasource alone"
#: How to get a token that Grafana accepts.
TOKEN_HINT = (
    "create a service account token in Grafana (Administration → Users and access → Service accounts; "
    "Editor role, Admin to push the datasource) and pass it with --token or TW_GRAFANA_TOKEN"
)
_LONGEST_QUOTE = 200


class GrafanaError(Exception):
    """A push failed; ``str()`` is one line naming the Grafana URL and the fix."""


class GrafanaUnreachable(GrafanaError):
    """No HTTP answer: connection refused, unknown host, timeout, TLS failure."""


class NotGrafana(GrafanaError):
    """Something answered, but not Grafana's HTTP API (an HTML page, a 404, other JSON)."""


class TokenRejected(GrafanaError):
    """401: Grafana does not accept the token."""


class PermissionDenied(GrafanaError):
    """403: the token's service account lacks the role for this request."""


class GrafanaTooOld(GrafanaError):
    """Grafana is older than telewatch's dashboards need."""


class VersionMismatch(GrafanaError):
    """412 ``version-mismatch``: the object changed in Grafana since it was read."""


class Rejected(GrafanaError):
    """Any other error answer (400 bad input, 409, other 412s, 5xx), with Grafana's message."""


def server_message(body: Any, secret: str) -> str:
    """Grafana's ``message`` from an error body (or the start of a non-JSON body) on one line, ``secret`` removed."""
    text = body.get("message") if isinstance(body, dict) else body
    if not isinstance(text, str) or not text.strip():
        text = "no message"
    line = " ".join(text.split())
    if secret:
        line = line.replace(secret, "***")
    return line if len(line) <= _LONGEST_QUOTE else line[: _LONGEST_QUOTE - 1] + "…"


def http_error(status: int, body: Any, *, url: str, doing: str, hint: str, secret: str) -> GrafanaError:
    """The error for Grafana answering ``status`` with ``body`` when asked to ``doing`` (e.g. "save dashboard x")."""
    message = server_message(body, secret)
    if status == 401:
        return TokenRejected(f"Grafana at {url} rejected the token (401: {message}); {TOKEN_HINT}")
    if status == 403:
        return PermissionDenied(
            f"Grafana at {url} refused to {doing}: the token lacks permission (403: {message}); {hint}"
        )
    if status == 412 and isinstance(body, dict) and body.get("status") == "version-mismatch":
        return VersionMismatch(
            f"Grafana at {url} refused to {doing}: it changed in Grafana since you read it; "
            "run again, or --force to overwrite"
        )
    if status >= 500:
        return Rejected(f"Grafana at {url} failed to {doing}: {message} ({status}); see Grafana's log")
    reason = f"{status} {body['status']}" if isinstance(body, dict) and isinstance(body.get("status"), str) else status
    return Rejected(f"Grafana at {url} refused to {doing}: {message} ({reason})")


def transport_error(exc: requests.RequestException, url: str, timeout_s: float) -> GrafanaUnreachable:
    """The error for a request that got no HTTP answer at all."""
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        why = f"no answer within {timeout_s:g} s"
    elif isinstance(exc, requests.exceptions.SSLError):
        why = "TLS handshake failed (http:// versus https://, or an untrusted certificate?)"
    elif "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text:
        why = "unknown host name"
    elif "Connection refused" in text or "NewConnectionError" in text:
        why = "connection refused (nothing listens on that host and port)"
    else:
        why = f"connection failed ({type(exc).__name__})"
    return GrafanaUnreachable(f"cannot reach Grafana at {url}: {why}; check --url")


def not_grafana(url: str, answer: str) -> NotGrafana:
    """The error for an answer to ``GET /api/health`` that is not Grafana's."""
    return NotGrafana(
        f"{url} does not look like Grafana: GET /api/health answered {answer}; "
        "check --url (Grafana's root URL, with its sub-path if it has one)"
    )
