"""The openai-agents SDK's default model (the Responses API) running an agent with a tool through Switchyard."""
import os

import pytest
from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
from openai import AsyncOpenAI

URL = os.environ["SWITCHYARD_URL"] + "/v1"
KEY = os.environ["SWITCHYARD_MASTER_KEY"]


@pytest.fixture(autouse=True)
def proxy_client():
    set_tracing_disabled(True)
    set_default_openai_client(AsyncOpenAI(base_url=URL, api_key=KEY, max_retries=0), use_for_tracing=False)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.mark.parametrize("model", ["grok-code-fast-1", "chat-only"])
def test_an_agent_calls_its_tool_and_answers_with_the_result(model):
    agent = Agent(name="forecaster", instructions="Use the tool.", model=model, tools=[get_weather])
    result = Runner.run_sync(agent, "Paris")
    assert result.final_output == "Tool said: sunny in Paris"
    kinds = [item.type for item in result.new_items]
    assert "tool_call_item" in kinds and "tool_call_output_item" in kinds


@pytest.mark.asyncio
async def test_a_streamed_agent_run_ends_with_the_answer():
    agent = Agent(name="forecaster", instructions="Use the tool.", model="grok-code-fast-1", tools=[get_weather])
    result = Runner.run_streamed(agent, "Oslo")
    deltas = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    assert result.final_output == "Tool said: sunny in Oslo"
    assert "".join(deltas) == "Tool said: sunny in Oslo"
