"""Chat models behind one small interface: `complete(messages, ...) -> Reply`.

`LiteLLMModel` reaches any provider litellm knows (hosted APIs, or an OpenAI-compatible
server such as vLLM or Ollama via `openai/<name>` and an api_base). It owns the reliability
policy: a per-request timeout, retries with exponential backoff on transient failures
(HTTP 5xx, rate limits, timeouts, dropped connections), immediate failure with an actionable
message on authentication and bad-request errors, and a disk cache of replies.
`OfflineModel` replays this project's reference answers and programs with no network.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

from lamour_jax.generate.cache import ReplyCache, request_key

# litellm fetches a price map from the internet at import and retries for seconds when
# offline; the bundled copy is enough for cost estimates. Set the variable to False to
# fetch the live map.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


class ModelError(RuntimeError):
    """The model could not be used: bad credentials or request, or retries exhausted."""

    def __init__(self, message: str, attempts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


@dataclass
class Reply:
    text: str
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    seconds: float = 0.0
    cached: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)  # failed tries before this


class ChatModel(Protocol):
    name: str

    def complete(self, messages: list[dict[str, Any]], *, stage: str, max_tokens: int,
                 temperature: float, sample: int) -> Reply: ...


def _status(err: Exception) -> int | None:
    code = getattr(err, "status_code", None)
    return code if isinstance(code, int) else None


def is_transient(err: Exception) -> bool:
    """Worth retrying: the same request may succeed a moment later."""
    import litellm

    if isinstance(err, (litellm.Timeout, litellm.APIConnectionError, litellm.RateLimitError,
                        litellm.InternalServerError, litellm.ServiceUnavailableError,
                        litellm.BadGatewayError)):
        return "Missing credentials" not in str(err)  # litellm files this under 500
    status = _status(err)
    return status in TRANSIENT_STATUS


def explain(err: Exception, model: str, api_base: str | None) -> str:
    """A message that says what to do, for errors that retrying will not fix."""
    import litellm

    where = f" at {api_base}" if api_base else ""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, (litellm.AuthenticationError, litellm.PermissionDeniedError)) or \
            _status(err) in (401, 403) or "Missing credentials" in str(err):
        return (f"authentication failed for {model}{where}: {first_line}. Set the provider's "
                "key in the environment (e.g. OPENAI_API_KEY, ANTHROPIC_API_KEY) or check it.")
    if isinstance(err, litellm.NotFoundError):
        return (f"model {model} not found{where}: {first_line}. Check the model name "
                "(litellm form: provider/name, e.g. openai/gpt-4o) and --api-base.")
    if isinstance(err, litellm.ContextWindowExceededError):
        return f"the request is too long for {model}: {first_line}"
    if isinstance(err, litellm.BadRequestError):
        return (f"{model}{where} rejected the request: {first_line}. Vision stages need a "
                "model that accepts images.")
    return f"{model}{where} failed: {type(err).__name__}: {first_line}"


def _usage(response: Any) -> dict[str, int]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return {}
    return {k: int(getattr(usage, k)) for k in
            ("prompt_tokens", "completion_tokens", "total_tokens")
            if isinstance(getattr(usage, k, None), int)}


def _cost(response: Any) -> float | None:
    import litellm

    try:
        return float(litellm.completion_cost(completion_response=response))
    except Exception:  # litellm raises for models missing from its price map
        return None


class LiteLLMModel:
    def __init__(self, name: str, api_base: str | None = None, *, timeout: float = 120.0,
                 retries: int = 4, backoff: float = 1.0, cache: ReplyCache | None = None
                 ) -> None:
        self.name = name
        self.api_base = api_base
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cache = cache

    def _call(self, messages: list[dict[str, Any]], max_tokens: int, temperature: float) -> Any:
        import litellm

        litellm.suppress_debug_info = True  # no "Give Feedback" banners in our output
        extra: dict[str, Any] = {}
        if self.api_base:
            extra["api_base"] = self.api_base
            # A local OpenAI-compatible server usually wants no key, but the OpenAI client
            # refuses to send a request without one.
            if self.name.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                extra["api_key"] = "no-key"
        # Retries are ours (counted, logged, backed off); the client's own are switched off.
        return litellm.completion(model=self.name, messages=messages, max_tokens=max_tokens,
                                  temperature=temperature, timeout=self.timeout,
                                  num_retries=0, max_retries=0, **extra)

    def complete(self, messages: list[dict[str, Any]], *, stage: str, max_tokens: int,
                 temperature: float, sample: int) -> Reply:
        key = request_key(model=self.name, api_base=self.api_base, messages=messages,
                          max_tokens=max_tokens, temperature=temperature, sample=sample)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return Reply(text=hit["text"], usage=hit.get("usage", {}),
                         cost_usd=hit.get("cost_usd"), cached=True)
        attempts: list[dict[str, Any]] = []
        for attempt in range(self.retries + 1):
            start = time.perf_counter()
            try:
                response = self._call(messages, max_tokens, temperature)
            except Exception as err:
                seconds = time.perf_counter() - start
                record = {"error": type(err).__name__, "status": _status(err),
                          "message": str(err)[:500], "seconds": round(seconds, 3)}
                attempts.append(record)
                if not is_transient(err):
                    raise ModelError(explain(err, self.name, self.api_base), attempts) from err
                if attempt == self.retries:
                    raise ModelError(
                        f"{self.name} failed {attempt + 1} times; last "
                        f"error: {explain(err, self.name, self.api_base)}", attempts) from err
                # Exponential backoff with jitter, so parallel jobs do not retry in lockstep.
                wait = self.backoff * 2 ** attempt * (0.5 + random.random() / 2)
                record["wait_s"] = round(wait, 3)
                time.sleep(wait)
                continue
            seconds = time.perf_counter() - start
            text = response.choices[0].message.content or ""
            reply = Reply(text=text, usage=_usage(response), cost_usd=_cost(response),
                          seconds=seconds, attempts=attempts)
            if self.cache is not None:
                self.cache.put(key, {"text": text, "usage": reply.usage,
                                     "cost_usd": reply.cost_usd, "model": self.name})
            return reply
        raise AssertionError("unreachable")


def reference_answers(env_name: str) -> dict[str, str]:
    raw = json.loads((resources.files("lamour_jax.rewards") / "reference" / "answers.json")
                     .read_text())
    return raw[env_name]


class OfflineModel:
    """Replays the hand-written reference answers of `rewards/reference/` for one env: the
    description, the behaviour and the reward program (in a fence, as a model would send it),
    which is also its answer to every reflection round, whatever the statistics say.
    Labelled `offline/reference` everywhere it is recorded: it is not model output."""

    name = "offline/reference"

    def __init__(self, env_name: str) -> None:
        from lamour_jax.rewards import reference_source

        answers = reference_answers(env_name)
        self._replies = {"describe": answers["describe"], "reason": answers["reason"],
                         "code": f"```python\n{reference_source(env_name)}```\n",
                         "reflect": "The offline answer set has one program for this env, "
                                    "the reference; here it is.\n\n"
                                    f"```python\n{reference_source(env_name)}```\n"}

    def complete(self, messages: list[dict[str, Any]], *, stage: str, max_tokens: int,
                 temperature: float, sample: int) -> Reply:
        return Reply(text=self._replies[stage])
