"""A loopback fake LLM server for tests and notebooks.

:class:`FakeLLMServer` listens on ``127.0.0.1`` and speaks four real wire formats on one
port: OpenAI-style ``…/chat/completions`` (any base-URL prefix), Anthropic ``/v1/messages``,
Gemini ``…:streamGenerateContent?alt=sse`` / ``:generateContent`` and Ollama ``/api/chat``,
plus each family's model list. Script its answers with :class:`Reply` (text, reasoning,
tool calls as :class:`ToolCallReply`, structured-output JSON), inject faults (error
statuses, mid-stream errors, dropped or stalled streams, recorded transcripts served byte
for byte), and inspect what the client sent::

    from ipyllm.testing import FakeLLMServer, Reply, ToolCallReply

    with FakeLLMServer() as server:
        server.add_reply("Hello there!", reasoning="They greet me.", delay_s=0.01)
        server.add_reply("Let me check.", tool_calls=[ToolCallReply("weather", {"city": "Oslo"})])
        server.add_reply(json={"city": "Oslo", "temp_c": 4})
        server.add_reply(status=429, headers={"retry-after": "2"})
        server.add_reply(Reply("Half an ans", error_after=2))
        server.add_reply(Reply.from_transcript("anthropic-thinking.sse"))

        client = openai.OpenAI(base_url=server.base_url("openai"), api_key="sk-test")
        ...
        assert server.requests[0].json["model"] == "gpt-4o-mini"
        assert server.requests[-1].messages[-1]["role"] == "tool"

The server uses only the standard library and stops by itself after ten idle minutes.
"""

from ._reply import Reply
from ._server import DEFAULT_MODELS, FakeLLMServer
from ._state import RecordedRequest
from ._tool_calls import ToolCallReply

__all__ = ["DEFAULT_MODELS", "FakeLLMServer", "RecordedRequest", "Reply", "ToolCallReply"]
