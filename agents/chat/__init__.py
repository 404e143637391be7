"""The operator chat: questions in plain words, answers that cite the store's records.

* :class:`ChatAgent`: ``answer(message, caller=, role=)`` streams :class:`ChatEvent` frames.
* :func:`parse`: the message's candidate :class:`Intent` s, found without a model, over the
  names the store and the cluster know (:class:`Known`, :class:`Inventory`).
* :func:`choose`: the router picks among several (local tier first), from a
  :func:`intent_prompt` that shows names and numbers only.

Served as server-sent events by ``POST /chat`` (:mod:`api.routes.chat`) and in the terminal by
``aiops chat``.
"""

from .agent import DECIDE_ANSWER, ChatAgent
from .changes import REFUSED_EVENT, ROLE_RULE, ClusterGate, Preview, needed_role
from .choose import SYSTEM, Choice, choose, intent_prompt, one_line
from .events import Answer, ChatEvent, Citation
from .intents import CHANGES, HELP, Intent, IntentKind, Parsed, parse
from .names import Inventory, Known
from .tools import ToolResult

__all__ = [
    "CHANGES",
    "DECIDE_ANSWER",
    "HELP",
    "REFUSED_EVENT",
    "ROLE_RULE",
    "SYSTEM",
    "Answer",
    "ChatAgent",
    "ChatEvent",
    "Choice",
    "Citation",
    "ClusterGate",
    "Intent",
    "IntentKind",
    "Inventory",
    "Known",
    "Parsed",
    "Preview",
    "ToolResult",
    "choose",
    "intent_prompt",
    "needed_role",
    "one_line",
    "parse",
]
