"""The one place that names Groq's default chat model.

`llama3-70b-8192` (the seed's default) is decommissioned and `llama-3.3-70b-versatile` /
`llama-3.1-8b-instant` are reported shut down since 2026-08-16 (issue 16). Check
console.groq.com/docs/deprecations before changing it.
Code and docs refer to this constant instead of repeating a model name.
"""

from typing import Final

DEFAULT_CHAT_MODEL: Final = "openai/gpt-oss-120b"
