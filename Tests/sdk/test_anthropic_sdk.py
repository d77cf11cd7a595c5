"""The official anthropic SDK, unchanged, against Switchyard's /v1/messages: translated for an upstream with the
Responses API (claude-sonnet-4-5 -> grok-code-fast-1, the mock speaking xAI's Responses API) and for a chat-only one
(chat-only, an openai/ deployment)."""
import os

import anthropic
import pytest

URL = os.environ["SWITCHYARD_URL"]
KEY = os.environ["SWITCHYARD_MASTER_KEY"]

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@pytest.fixture
def client():
    # Claude Code's model names reach an alias through router_settings.model_group_alias (run.sh's config).
    return anthropic.Anthropic(base_url=URL, api_key=KEY, max_retries=0)


MODELS = ["claude-sonnet-4-5", "chat-only"]


@pytest.mark.parametrize("model", MODELS)
def test_messages_create(client, model):
    message = client.messages.create(
        model=model, max_tokens=256, system="Be brief.", messages=[{"role": "user", "content": "hello claude"}]
    )
    assert message.type == "message"
    assert message.model == model
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[-1].text == "You said: hello claude"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream(client, model):
    with client.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "stream claude"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "You said: stream claude"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_messages_tool_round_trip(client, model):
    first = client.messages.create(
        model=model, max_tokens=256, tools=TOOLS, messages=[{"role": "user", "content": "Paris"}]
    )
    assert first.stop_reason == "tool_use"
    use = [block for block in first.content if block.type == "tool_use"][0]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    second = client.messages.create(
        model=model,
        max_tokens=256,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "Paris"},
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}]},
        ],
    )
    assert second.content[-1].text == "Tool said: sunny, 21 C"


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_use(client, model):
    with client.messages.stream(
        model=model, max_tokens=256, tools=TOOLS, messages=[{"role": "user", "content": "Rome"}]
    ) as stream:
        final = stream.get_final_message()
    use = [block for block in final.content if block.type == "tool_use"][0]
    assert use.input == {"city": "Rome"}
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("model", MODELS)
def test_count_tokens(client, model):
    counted = client.messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "count these words please"}], tools=TOOLS
    )
    assert counted.input_tokens > 10


def test_errors_are_anthropics_own_classes(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "robot", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "FAULT:429"}])
    wrong = anthropic.Anthropic(base_url=URL, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
