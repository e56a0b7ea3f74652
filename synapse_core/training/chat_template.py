"""The chat template that renders a reasoning reply: ``<reasoning>...</reasoning>`` + answer.

Mistral's instruct format ([SYSTEM_PROMPT] ... [INST] ... [/INST] reply</s>), which Tekken
carries as control tokens. The assistant turn is wrapped in ``{% generation %}`` so TRL's
SFT can compute an assistant-only loss mask, and a prompt rendered alone (with or without
``add_generation_prompt``) is an exact prefix of the prompt + reply, which TRL's KTO needs to
find where the completion starts.

An assistant message carries its reasoning either inline in ``content`` (what the data
module produces) or in a separate ``reasoning`` field (the OpenAI-messages shape); the
template puts the field in front of the content, adding the tags only when missing.
"""

from __future__ import annotations

from typing import Any

REASONING_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- set ns = namespace(system='') %}"
    "{%- for m in messages %}{%- if m['role'] == 'system' %}"
    "{%- set ns.system = ns.system + (ns.system and '\\n\\n' or '') + m['content'] %}"
    "{%- endif %}{%- endfor %}"
    "{%- if ns.system %}[SYSTEM_PROMPT]{{ ns.system }}[/SYSTEM_PROMPT]{%- endif %}"
    "{%- for m in messages %}"
    "{%- if m['role'] == 'user' %}[INST]{{ m['content'] }}[/INST]"
    "{%- elif m['role'] == 'assistant' %}{% generation %}"
    "{%- if m['reasoning'] is defined and m['reasoning'] %}"
    "{%- if m['reasoning'].startswith('<reasoning>') %}{{ m['reasoning'] }}"
    "{%- else %}<reasoning>{{ m['reasoning'] }}</reasoning>{%- endif %}{{ '\\n' }}"
    "{%- endif %}"
    "{{ m['content'] }}{{ eos_token }}{% endgeneration %}"
    "{%- endif %}"
    "{%- endfor %}"
)
"""Jinja template: system merged into one [SYSTEM_PROMPT], user turns in [INST], replies
(reasoning + answer) closed by EOS. Generation needs no extra prompt after [/INST]."""


def set_chat_template(tokenizer: Any) -> None:
    """Put the reasoning chat template on ``tokenizer`` (it is saved with the tokenizer)."""
    tokenizer.chat_template = REASONING_CHAT_TEMPLATE
