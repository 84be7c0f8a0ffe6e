"""Reward generation through litellm against a real OpenAI-compatible HTTP server on
127.0.0.1 (tests/llm_server.py), and offline through the reference answers."""

import base64
import hashlib
import io
import json
import time

import pytest
from llm_server import ChatServer, error
from PIL import Image

from lamour_jax.cli import main
from lamour_jax.generate.prompts import code_example, load_prompts
from lamour_jax.rewards import reference_source

DESCRIPTION = "The hopper robot lies flat on the floor next to a red cube."
BEHAVIOUR = "Lever the torso up with the foot until it stands."
GOOD = reference_source("hopper")
BAD = "def is_recovered(state):\n    while True:\n        pass\n"
ALWAYS_RECOVERED = ("def is_recovered(state):\n    return 1\n\n"
                    "def calculate_reward(state, action):\n    return -1.0\n")

pytestmark = pytest.mark.xdist_group("generate")  # one process: litellm imports once


def stage_of(request: dict) -> str:
    """Which pipeline stage a request belongs to, read from its last message."""
    content = request["messages"][-1]["content"]
    if isinstance(content, list):
        return "describe"
    if "could not be used" in content:
        return "repair"
    if "def calculate_reward" in content:
        return "code"
    return "reason"


def scripted(code_replies: list[str]):
    """A model that answers describe/reason with fixed text and the code stage (and its
    repairs) with the given replies in order, the last one repeating."""
    replies = list(code_replies)

    def respond(request: dict):
        stage = stage_of(request)
        if stage == "describe":
            return DESCRIPTION
        if stage == "reason":
            return BEHAVIOUR
        return replies.pop(0) if len(replies) > 1 else replies[0]

    return respond


def generate(server: ChatServer, out, *extra: str) -> int:
    return main(["generate", "hopper", "--model", "openai/test-vlm", "--api-base", server.url,
                 "--out", str(out), "--no-check", *extra])


def transcript(out) -> dict:
    return json.loads((out / "transcript.json").read_text())


def test_stages_chain_image_arrives_and_fences_are_stripped(tmp_path):
    reply = f"Here is the program.\n\n```python\n{GOOD}```\n\nIt is always negative."
    with ChatServer(scripted([reply])) as server:
        assert generate(server, tmp_path / "run", "--no-cache") == 0
    stages = [stage_of(r) for r in server.requests]
    assert stages == ["describe", "reason", "code"]
    describe, reason, code = server.requests
    # The image arrives as a PNG data URL and decodes to the rendered frame.
    url = describe["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (640, 480)
    assert png == (tmp_path / "run" / "ood.png").read_bytes()
    # Each stage's input holds the previous answer.
    assert DESCRIPTION in reason["messages"][0]["content"]
    assert "Hop forward" in reason["messages"][0]["content"]
    assert BEHAVIOUR in code["messages"][0]["content"]
    assert "State vector" in code["messages"][0]["content"]  # the env doc
    assert [r["max_tokens"] for r in server.requests] == [500, 500, 3000]
    # Prose and fences are gone; the program is exactly the fenced code.
    assert (tmp_path / "run" / "reward.py").read_text() == GOOD
    assert (tmp_path / "run" / "candidates" / "sample0.py").read_text() == GOOD
    record = transcript(tmp_path / "run")
    assert record["outcome"] == "ok"
    assert [e["stage"] for e in record["exchanges"]] == ["describe", "reason", "code"]
    assert record["exchanges"][0]["usage"]["total_tokens"] == 18
    text = (tmp_path / "run" / "transcript.json").read_text()
    assert "base64," not in text and len(text) < 60_000  # no image bytes
    hashes = {name: hashlib.sha256(p.template.encode()).hexdigest()
              for name, p in load_prompts().items()}
    assert record["prompt_sha256"] == hashes
    assert json.loads((tmp_path / "run" / "prompts.json").read_text()) == hashes


def test_http_500_and_timeout_are_retried(tmp_path):
    failures = {"describe": 1, "reason": 1}

    def respond(request):
        stage = stage_of(request)
        if failures.get(stage):
            failures[stage] -= 1
            if stage == "describe":
                return error(500, "the GPU fell over")
            time.sleep(2.5)  # longer than --timeout
        return scripted([GOOD])(request)

    with ChatServer(respond) as server:
        assert generate(server, tmp_path / "run", "--no-cache", "--timeout", "1") == 0
    assert [stage_of(r) for r in server.requests] == [
        "describe", "describe", "reason", "reason", "code"]
    describe, reason = transcript(tmp_path / "run")["exchanges"][:2]
    assert describe["failed_attempts"][0]["status"] == 500
    assert describe["response"] == DESCRIPTION
    assert reason["failed_attempts"][0]["error"] == "Timeout"


def test_rejected_program_is_repaired_with_the_error_quoted(tmp_path, capsys):
    with ChatServer(scripted([BAD, GOOD])) as server:
        assert generate(server, tmp_path / "run", "--no-cache") == 0
    assert [stage_of(r) for r in server.requests] == ["describe", "reason", "code", "repair"]
    repair = server.requests[-1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": BAD}
    assert "while loops are not allowed" in repair[-1]["content"]
    assert "line 2" in repair[-1]["content"]
    rejected = tmp_path / "run" / "candidates" / "rejected" / "sample0-try0.txt"
    assert "while loops are not allowed" in rejected.read_text()
    assert (tmp_path / "run" / "reward.py").read_text() == GOOD
    verdicts = [e.get("verdict") for e in transcript(tmp_path / "run")["exchanges"]]
    assert verdicts == [None, None, "rejected", "accepted"]
    assert "| sample0.py (chosen) | 2 |" in capsys.readouterr().out


# Within every work budget, but about 4,800 operations that take XLA seconds to compile.
SLOW_TO_COMPILE = ("import numpy as np\n\ndef is_recovered(state):\n    return 1\n\n"
                   "def calculate_reward(state, action):\n    t = state[0]\n"
                   + "    for i in range(600):\n        t = np.sin(t) * 1.01 + np.cos(t)\n" * 2
                   + "    return -t\n")


def test_a_reply_that_outlasts_the_guard_is_rejected_and_repaired(tmp_path, capsys):
    with ChatServer(scripted([SLOW_TO_COMPILE, GOOD])) as server:
        assert generate(server, tmp_path / "run", "--no-cache", "--guard-seconds", "1") == 0
    assert [stage_of(r) for r in server.requests] == ["describe", "reason", "code", "repair"]
    assert "guard_seconds" in server.requests[-1]["messages"][-1]["content"]
    rejected = (tmp_path / "run" / "candidates" / "rejected" / "sample0-try0.txt").read_text()
    assert "took longer than 1 s" in rejected
    # Saved as comments only: the file never runs as Python.
    assert all(line.startswith("#") for line in rejected.splitlines())
    assert (tmp_path / "run" / "reward.py").read_text() == GOOD
    verdicts = [e.get("verdict") for e in transcript(tmp_path / "run")["exchanges"]]
    assert verdicts == [None, None, "rejected", "accepted"]


def test_hopeless_model_fails_clearly_and_keeps_the_transcript(tmp_path, capsys):
    with ChatServer(scripted(["I cannot write code today."])) as server:
        assert generate(server, tmp_path / "run", "--no-cache", "--max-repairs", "1",
                        "--samples", "2") == 1
    assert "no valid reward program" in capsys.readouterr().err
    record = transcript(tmp_path / "run")
    assert record["outcome"] == "failed" and "no valid reward program" in record["error"]
    code = [e for e in record["exchanges"] if e["stage"] == "code"]
    assert len(code) == 4 and all(e["verdict"] == "rejected" for e in code)
    assert not (tmp_path / "run" / "reward.py").exists()
    assert len(list((tmp_path / "run" / "candidates" / "rejected").iterdir())) == 4


@pytest.mark.parametrize("status, message", [(401, "authentication failed"),
                                             (400, "rejected the request")])
def test_auth_and_bad_request_fail_fast(tmp_path, capsys, status, message):
    with ChatServer(lambda request: error(status, "nope", "invalid_request_error")) as server:
        assert generate(server, tmp_path / "run", "--no-cache") == 1
    assert len(server.requests) == 1  # not retried
    assert message in capsys.readouterr().err
    record = transcript(tmp_path / "run")
    assert record["outcome"] == "failed" and record["exchanges"][0]["stage"] == "describe"


def test_malformed_reply_is_a_clear_error(tmp_path, capsys):
    with ChatServer(lambda request: (200, {"unexpected": "shape"})) as server:
        assert generate(server, tmp_path / "run", "--no-cache", "--retries", "1") == 1
    err = capsys.readouterr().err
    assert "describe stage" in err and "Traceback" not in err
    assert transcript(tmp_path / "run")["outcome"] == "failed"


def test_cache_hits_send_no_request(tmp_path):
    cache = ["--cache-dir", str(tmp_path / "cache")]
    with ChatServer(scripted([GOOD])) as server:
        assert generate(server, tmp_path / "first", *cache) == 0
        assert len(server.requests) == 3
        assert generate(server, tmp_path / "second", *cache) == 0
        assert len(server.requests) == 3  # all three replies came from the cache
    assert all(e["cached"] for e in transcript(tmp_path / "second")["exchanges"])
    assert (tmp_path / "second" / "reward.py").read_text() == GOOD


def test_samples_are_ranked_by_the_reward_check(tmp_path, capsys):
    # Sample 0 calls every state recovered (fails the check), sample 1 is sound.
    with ChatServer(scripted([ALWAYS_RECOVERED, GOOD])) as server:
        assert main(["generate", "hopper", "--model", "openai/test-vlm", "--api-base",
                     server.url, "--out", str(tmp_path / "run"), "--no-cache",
                     "--samples", "2"]) == 0
    codes = [r for r in server.requests if stage_of(r) == "code"]
    assert [r["temperature"] for r in codes] == [0.8, 0.8]
    assert (tmp_path / "run" / "reward.py").read_text() == GOOD
    summary = json.loads((tmp_path / "run" / "generation.json").read_text())
    assert summary["chosen"] == "sample1.py"
    assert [c["check"]["passed"] for c in summary["candidates"]] == [False, True]
    out = capsys.readouterr().out
    assert "| sample0.py | 1 |" in out and "FAIL" in out and "sample1.py (chosen)" in out


def test_offline_is_the_default_and_uses_the_reference(tmp_path, capsys):
    assert main(["generate", "hopper", "--out", str(tmp_path / "run"), "--no-check"]) == 0
    assert (tmp_path / "run" / "reward.py").read_text() == reference_source("hopper")
    record = transcript(tmp_path / "run")
    assert record["model"] == "offline/reference"
    assert [e["stage"] for e in record["exchanges"]] == ["describe", "reason", "code"]


def test_flag_errors_exit_2(tmp_path, capsys):
    assert main(["generate", "hopper", "--llm", "litellm"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["generate", "hopper", "--out", str(tmp_path / "a"), "--no-check"]) == 0
    assert main(["generate", "hopper", "--out", str(tmp_path / "a")]) == 2
    assert "already holds" in capsys.readouterr().err


def test_prompt_with_a_missing_value_is_an_error():
    with pytest.raises(ValueError, match="behaviour"):
        load_prompts()["code"].render(env_name="hopper")


def test_pushchair_code_prompt_carries_a_staged_example_the_checker_accepts():
    """Spec §3: PushChair's code stage gets a few-shot staged reward; the other envs none. The
    example is itself a program the transpiler accepts (the model is not shown code it would
    then have rejected)."""
    from lamour_jax.transpile import extract_code, transpile

    example = code_example("pushchair")
    assert "stage" in example and code_example("hopper") == ""
    program = transpile(extract_code(example), 2, 4)
    assert float(program.calculate_reward([0.01, 0.4], [0.0] * 4)) > float(
        program.calculate_reward([0.5, 0.0], [0.0] * 4))
    prompt = load_prompts()["code"].render(env_name="pushchair", behaviour="b", env_doc="d",
                                           obs_dim=5, action_dim=12, example=example)
    assert example.strip() in prompt


@pytest.mark.parametrize("env", ["humanoid", "pushchair"])
def test_generation_for_the_generalisation_scenarios_over_http(env, tmp_path):
    """The paper's two generalisation scenarios through the loopback model: the image of the
    OOD state arrives, the code stage gets the env's state layout (PushChair: the 5-d program
    state and the staged example), and the reference program comes back accepted."""
    with ChatServer(scripted([reference_source(env)])) as server:
        assert main(["generate", env, "--model", "openai/test-vlm", "--api-base", server.url,
                     "--out", str(tmp_path / "run"), "--no-check", "--no-cache"]) == 0
    describe, _, code = server.requests
    url = describe["messages"][0]["content"][1]["image_url"]["url"]
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (640, 480)
    prompt = code["messages"][0]["content"]
    if env == "pushchair":
        assert "length 5" in prompt and "chair_tilt" in prompt and "staged reward" in prompt
    else:
        assert "length 67" in prompt and "head_height" in prompt and "staged" not in prompt
    assert (tmp_path / "run" / "reward.py").read_text() == reference_source(env)
