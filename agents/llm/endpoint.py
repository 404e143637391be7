"""An OpenAI-compatible endpoint (a local server such as Ollama, vLLM or llama.cpp's, or a cloud
API) as a model tier, through the ``openai`` SDK.

The answer is constrained to ``{"choice": "<letter>"}`` (``response_format``: ``json_object``
with a schema, which llama.cpp's server and Ollama accept, or OpenAI's ``json_schema``) and
validated with pydantic; the letter's log-probability comes from the answer token's
``top_logprobs`` where the endpoint gives them. Timeouts, connection errors and 5xx answers are
:class:`LLMUnavailable`; anything that is not one of the offered letters is
:class:`InvalidModelOutput`. The SDK's own retries are off: the router decides what happens next.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from controlplane import InvalidModelOutput, LLMUnavailable, Tier

from .tier import ChoicePrompt, ModelAnswer, softmax

__all__ = ["OpenAIEndpoint", "ResponseFormat"]

ResponseFormat = Literal["json_object_schema", "json_schema", "text"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    choice: str


class OpenAIEndpoint:
    """One model behind an OpenAI-compatible ``/v1/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        tier: Tier = Tier.CLOUD,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        price_prompt_per_mtok: float = 0.0,
        price_output_per_mtok: float = 0.0,
        response_format: ResponseFormat = "json_object_schema",
        logprobs: bool = True,
        egress: bool | None = None,
    ) -> None:
        from openai import OpenAI

        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.base_url, self.model, self.tier = base_url.rstrip("/"), model, tier
        self.egress = (tier is Tier.CLOUD) if egress is None else egress
        self.price = (price_prompt_per_mtok, price_output_per_mtok)
        self.response_format, self.logprobs = response_format, logprobs
        self._client = OpenAI(
            base_url=self.base_url, api_key=api_key or "none", timeout=timeout_s, max_retries=0
        )

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.price[0] + output_tokens * self.price[1]) / 1e6

    def estimate_tokens(self, prompt: ChoicePrompt) -> int:
        """A rough count (four characters a token) for the spend check before a call."""
        return (len(prompt.system) + len(prompt.user)) // 4 + 8

    def _format(self, prompt: ChoicePrompt) -> dict[str, Any] | None:
        schema = {
            "type": "object",
            "properties": {"choice": {"type": "string", "enum": list(prompt.options)}},
            "required": ["choice"],
        }
        if self.response_format == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        if self.response_format == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": "choice", "schema": schema, "strict": True},
            }
        return None

    def answer(self, prompt: ChoicePrompt) -> ModelAnswer:
        import openai

        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": 16}
        fmt = self._format(prompt)
        if fmt is not None:
            kwargs["response_format"] = fmt
        if self.logprobs:
            kwargs.update(logprobs=True, top_logprobs=5)
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=prompt.messages(),  # type: ignore[arg-type]
                **kwargs,
            )
        except openai.APITimeoutError as exc:
            raise LLMUnavailable(f"{self.model} at {self.base_url}: timed out") from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(f"{self.model} at {self.base_url}: {exc}") from exc
        except openai.APIStatusError as exc:
            raise LLMUnavailable(
                f"{self.model} at {self.base_url}: HTTP {exc.status_code}"
            ) from exc
        except openai.OpenAIError as exc:  # e.g. a body the SDK could not decode
            raise InvalidModelOutput(f"{self.model}: {exc}") from exc
        latency = time.perf_counter() - started
        if not response.choices:
            raise InvalidModelOutput(f"{self.model}: an answer with no choices")
        content = response.choices[0].message.content or ""
        letter = _letter(content, prompt.options, self.model)
        usage = response.usage
        return ModelAnswer(
            letter=letter,
            logprobs=_logprobs(response.choices[0], letter, prompt.options),
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else self.estimate_tokens(prompt),
            output_tokens=usage.completion_tokens if usage else 1,
            latency_s=latency,
            raw=content[:200],
        )


def _letter(content: str, options: tuple[str, ...], model: str) -> str:
    try:
        answer = _Answer.model_validate(json.loads(content))
    except (json.JSONDecodeError, ValidationError, TypeError) as exc:
        raise InvalidModelOutput(f"{model}: not a choice: {content[:80]!r}") from exc
    letter = answer.choice.strip().upper()
    if letter not in options:
        raise InvalidModelOutput(f"{model}: {answer.choice[:20]!r} is not one of {options}")
    return letter


def _logprobs(choice: Any, letter: str, options: tuple[str, ...]) -> dict[str, float]:
    """The offered letters' log-probabilities at the answer token, normalised over them.

    Letters outside the endpoint's ``top_logprobs`` get the lowest value it listed (an upper
    bound, so the margin is never overstated). Empty when the endpoint gives none.
    """
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    for token in content:
        if token.token.strip(' "') != letter:
            continue
        seen: dict[str, float] = {}
        for alt in token.top_logprobs or []:
            key = alt.token.strip(' "').upper()
            if key in options and key not in seen:
                seen[key] = alt.logprob
        seen.setdefault(letter, token.logprob)
        floor = min(seen.values()) if len(seen) < len(options) else -math.inf
        return softmax(
            {o: seen.get(o, floor) for o in options if math.isfinite(seen.get(o, floor))}
        )
    return {}
