"""``aiops chat``: ask the control plane in the terminal, through the API's ``POST /chat``.

Top floor: mounted by ``controlplane.cli``. With a MESSAGE it asks once; without, it reads
questions line by line until end of input. The answer is printed as it streams, then the ids
it cites; the model calls it cost go to standard error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import click
import httpx

__all__ = ["ApiRefused", "Reply", "ask", "chat_command", "read_events"]

TIMEOUT = httpx.Timeout(10.0, read=120.0)
"""Connecting is quick or broken; an answer may wait on a model (two tiers, 20 s each)."""


class ApiRefused(click.ClickException):
    """The API answered with an error status instead of a stream."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Reply:
    """What one answer streamed."""

    text: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: dict[str, Any] = field(default_factory=dict)


def read_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-sent events ``(event, data)`` from the lines of a stream."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        yield event, json.loads("\n".join(data))


def ask(client: httpx.Client, message: str, *, echo: bool = True) -> Reply:
    """Ask ``message`` through ``client`` (its base URL and token set); print as it streams."""
    reply = Reply()
    with client.stream("POST", "/chat", json={"message": message}) as response:
        if response.status_code != 200:
            response.read()
            raise ApiRefused(response.status_code, _refusal(response))
        for event, data in read_events(response.iter_lines()):
            if event == "text":
                reply.text += data.get("text", "")
                if echo:
                    click.echo(data.get("text", ""), nl=False)
            elif event == "cite":
                reply.citations.append(data)
            elif event == "error":
                reply.errors.append(str(data.get("message", "")))
            elif event == "done":
                reply.done = data
    if echo:
        _summary(reply)
    return reply


def _refusal(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if isinstance(detail, list):  # a 422: the fields at fault
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    status = response.status_code
    if status == 401:
        return f"401: {detail} (pass --token or set AIOPS_API_TOKEN; `aiops token create`)"
    if status == 403:
        return f"403: {detail}"
    return f"{status}: {detail}"


def _summary(reply: Reply) -> None:
    click.echo()
    if reply.citations:
        click.echo("cites: " + ", ".join(f"{c['kind']}:{c['id']}" for c in reply.citations))
    for error in reply.errors:
        click.echo(f"error: {error}", err=True)
    calls = reply.done.get("calls") or []
    if calls:
        tiers = ", ".join(f"{c['tier']} {c['outcome']}" for c in calls)
        click.echo(
            f"({len(calls)} model call(s): {tiers}; {reply.done.get('prompt_tokens', 0)} prompt "
            f"tokens, {reply.done.get('latency_s', 0):.2f} s)",
            err=True,
        )


@click.command("chat")
@click.argument("message", required=False)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The API.")
@click.option(
    "--token", envvar="AIOPS_API_TOKEN", default=None, help="Bearer token (or AIOPS_API_TOKEN)."
)
def chat_command(message: str | None, url: str, token: str | None) -> None:
    """Ask the control plane in plain words ("why is search slow?", "scale search to 4")."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=TIMEOUT) as client:
        try:
            if message is not None:
                if ask(client, message).errors:
                    raise SystemExit(1)
                return
            _loop(client)
        except httpx.ConnectError as exc:
            raise click.ClickException(
                f"cannot reach the API at {url}: {exc} (is `aiops api` running?)"
            ) from exc
        except httpx.HTTPError as exc:
            raise click.ClickException(f"the API at {url} failed: {exc}") from exc


def _loop(client: httpx.Client) -> None:
    stdin = sys.stdin
    prompt = stdin.isatty()
    while True:
        if prompt:
            click.echo("aiops> ", nl=False, err=True)
        line = stdin.readline()
        if not line:
            break
        if line.strip():
            try:
                ask(client, line.strip())
            except ApiRefused as exc:
                if exc.status in (401, 403):
                    raise
                exc.show()
