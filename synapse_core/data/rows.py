"""Turn one decoded JSON object into a scored ``Record`` (or the reason it cannot be one).

The four shapes, detected per row in this order: ShareGPT ``conversations`` (+ optional
``quality_metrics``), OpenAI ``messages`` (+ optional per-message ``reasoning``),
``prompt``/``completion`` (+ optional ``label``), plain ``text``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from synapse_core.data.banned import BannedMatcher
from synapse_core.data.bias import bias_detection
from synapse_core.data.reasoning import ReasoningTooDeep, parse_reasoning, split_inline_reasoning
from synapse_core.data.records import Message, Record
from synapse_core.data.scoring import combine, conversation_quality, label_for, reasoning_quality

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "model": "assistant", "bot": "assistant", "system": "system"}
ROLES = ("system", "user", "assistant")
METRICS = ("conversation_quality", "bias_detection", "reasoning_quality")
NO_ANSWER = "no assistant turn: this row has no answer to train on"
"""The problem listed for a row without any assistant message."""


def content_hash(data: bytes) -> str:
    """Short stable hash of a row's bytes (decisions are keyed by line and this)."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class RowError(ValueError):
    """A row that cannot be used; the message names the field."""


def detect_shape(obj: dict[str, Any]) -> str:
    """Which of the four shapes ``obj`` is (raises RowError when none)."""
    if "conversations" in obj:
        return "sharegpt"
    if "messages" in obj:
        return "messages"
    if "prompt" in obj and "completion" in obj:
        return "prompt_completion"
    if "text" in obj:
        return "text"
    raise RowError("no conversations, messages, prompt+completion or text field")


def _assistant(content: str, reasoning_text: Any, where: str, text_where: str = "") -> Message:
    """The assistant message of ``content`` (its reply) and ``reasoning_text`` (the message's
    own reasoning field, or None); ``where``/``text_where`` name them in errors."""
    problems: list[str] = []
    if reasoning_text is not None:
        if not isinstance(reasoning_text, str):
            raise RowError(f"{where}.reasoning: expected a string, got "
                           f"{type(reasoning_text).__name__}")
        block, answer = reasoning_text, content
        inline, rest, _ = split_inline_reasoning(content)
        if inline is not None:  # reasoning given twice: keep the field, strip the inline copy
            answer = rest
    else:
        block, answer, problems = split_inline_reasoning(content)
    if block is None or not block.strip():
        return Message("assistant", answer, None)
    try:
        r = parse_reasoning(block)
    except ReasoningTooDeep:  # (hundreds of nested tags: no block of the schema)
        field = f"{where}.reasoning" if reasoning_text is not None else text_where or where
        raise RowError(f"{field}: <reasoning> block nested too deeply to read") from None
    if problems:  # the split already explained the missing </reasoning>
        r.problems[:] = problems + [p for p in r.problems if p != "unclosed <reasoning>"]
    return Message("assistant", answer, r)


def _text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: keep the text ones
        out = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" \
                    or not isinstance(part.get("text"), str):
                raise RowError(f"{where}[{i}]: only text parts are supported")
            out.append(part["text"])
        return "".join(out)
    raise RowError(f"{where}: expected a string, got {type(value).__name__}")


def _messages_list(items: Any, field: str, sharegpt: bool) -> list[Message]:
    if not isinstance(items, list):
        raise RowError(f"{field}: expected a list, got {type(items).__name__}")
    if not items:
        raise RowError(f"{field}: empty conversation")
    role_key, text_key = ("from", "value") if sharegpt else ("role", "content")
    out: list[Message] = []
    for i, m in enumerate(items):
        # (the field's name is spelled out only for an error or an answer: an f-string per
        # message is a measurable share of a row's time)
        if not isinstance(m, dict):
            raise RowError(f"{field}[{i}]: expected an object, got {type(m).__name__}")
        if role_key not in m:
            raise RowError(f"{field}[{i}].{role_key}: missing")
        raw_role = m[role_key]
        role = (SHAREGPT_ROLES.get(raw_role) if sharegpt else
                raw_role if raw_role in ROLES else None) if isinstance(raw_role, str) else None
        if role is None:
            allowed = ", ".join(SHAREGPT_ROLES if sharegpt else ROLES)
            raise RowError(f"{field}[{i}].{role_key}: unknown role {raw_role!r} "
                           f"(allowed: {allowed})")
        if text_key not in m:
            raise RowError(f"{field}[{i}].{text_key}: missing")
        content = m[text_key]
        if content.__class__ is not str:
            content = _text(content, f"{field}[{i}].{text_key}")
        if role == "assistant":
            where = f"{field}[{i}]"
            out.append(_assistant(content, m.get("reasoning"), where, f"{where}.{text_key}"))
        else:
            out.append(Message(role, content, None))
    return out


def _given_metrics(obj: dict[str, Any]) -> dict[str, float]:
    qm = obj.get("quality_metrics")
    if qm is None:
        return {}
    if not isinstance(qm, dict):
        raise RowError(f"quality_metrics: expected an object, got {type(qm).__name__}")
    out: dict[str, float] = {}
    for k in METRICS:
        if k not in qm or qm[k] is None:
            continue
        v = qm[k]
        if isinstance(v, bool):
            if k != "bias_detection":
                raise RowError(f"quality_metrics.{k}: expected a number, got a boolean")
            v = 1.0 if v else 0.0
        if not isinstance(v, (int, float)) or isinstance(v, float) and not math.isfinite(v):
            raise RowError(f"quality_metrics.{k}: expected a finite number, got {_short(v)}")
        if not 0 <= v <= 1:  # (an int is compared as is: float() refuses 400 digits)
            raise RowError(f"quality_metrics.{k}: {_short(v)} is outside its range [0, 1]")
        out[k] = float(v)
    return out


def _short(v: Any) -> str:
    """``repr(v)`` cut to 40 characters (a number may have thousands of digits)."""
    text = repr(v) if not isinstance(v, int) or abs(v) < 10 ** 40 else "an integer of over 40 digits"
    return text if len(text) <= 40 else text[:39] + "…"


def build_messages(obj: dict[str, Any], shape: str) -> tuple[list[Message], bool | None]:
    """The messages of a row of ``shape`` and its given label (prompt/completion only)."""
    if shape == "sharegpt":
        return _messages_list(obj["conversations"], "conversations", True), None
    if shape == "messages":
        return _messages_list(obj["messages"], "messages", False), None
    if shape == "prompt_completion":
        p, c = obj["prompt"], obj["completion"]
        msgs = (_messages_list(p, "prompt", False) if isinstance(p, list)
                else [Message("user", _text(p, "prompt"), None)])
        if isinstance(c, list):
            msgs += _messages_list(c, "completion", False)
        else:
            msgs.append(_assistant(_text(c, "completion"), None, "completion"))
        label = obj.get("label")
        if label is not None and not isinstance(label, bool):
            raise RowError(f"label: expected true or false, got {label!r}")
        if not any(m.content.strip() or m.reasoning for m in msgs):
            raise RowError("prompt/completion: empty")
        return msgs, label
    text = _text(obj["text"], "text")
    if not text.strip():
        raise RowError("text: empty")
    return [_assistant(text, None, "text")], None


def build_record(obj: Any, line: int, config: Any, matcher: BannedMatcher,
                 content_hash: str = "", offset: int = -1) -> Record:
    """Parse, score and label one decoded row. Raises RowError naming the bad field."""
    if not isinstance(obj, dict):
        raise RowError(f"expected a JSON object, got {type(obj).__name__}")
    shape = detect_shape(obj)
    messages, given_label = build_messages(obj, shape)
    given = _given_metrics(obj)
    reasons: dict[str, list[str]] = {}
    # One pass over the messages: the answers, their indices, and each answer's lowered
    # UTF-8 (bias and banned words both start from it: encoded once, not twice).
    answers = [(i, m) for i, m in enumerate(messages) if m.role == "assistant"]
    contents = [m.content for _, m in answers]
    lowered = [c.encode("utf-8", "surrogatepass").lower() for c in contents]
    if "conversation_quality" in given:
        cq = given["conversation_quality"]
    else:
        cq, reasons["conversation_quality"] = conversation_quality(messages)
    if "bias_detection" in given:
        bias = given["bias_detection"]
    else:
        bias, reasons["bias_detection"] = bias_detection(contents, lowered)
    if "reasoning_quality" in given:
        rq = given["reasoning_quality"]
    else:
        rq, reasons["reasoning_quality"] = reasoning_quality([m.reasoning for _, m in answers])
    source = "given" if len(given) == 3 else "computed"
    if source == "computed":
        for k in given:
            reasons[k] = ["given in quality_metrics"]
    score = combine(cq, bias, rq, config.scoring)
    # Only answers: a user quoting "delve" is no reason to drop the row.
    banned = ([b for (i, m), low_b in zip(answers, lowered)
               for b in matcher.find(m.content, i, low_b)] if matcher else [])
    problems = [p for _, m in answers if m.reasoning for p in m.reasoning.problems]
    if not answers:  # a conversation of questions only: valid JSON, but nothing to learn
        problems.append(NO_ANSWER)
    # (positional: the loader builds one per row)
    return Record(line, shape, messages, cq, bias, rq, source, reasons, score,
                  label_for(score, config.scoring), banned, problems, obj, content_hash,
                  offset, given_label)
