"""`lamour search`: rounds of reward programs trained together, measured, and sent back to the
model with their numbers and frames. Offline and against a real OpenAI-compatible HTTP server on
127.0.0.1 (tests/llm_server.py), on the hopper with the shipped original and tiny budgets."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from llm_server import ChatServer, error
from PIL import Image

from lamour_jax.cli import main
from lamour_jax.generate.search import FRAME_SIZE, FRAMES_PER_EPISODE
from lamour_jax.rewards import reference_source
from lamour_jax.transpile import transpile

pytestmark = pytest.mark.xdist_group("search")  # one process: round 1 is trained once

WEAK = Path(__file__).parents[1] / "benchmarks" / "search" / "hopper_height_only.py"
REFERENCE = reference_source("hopper")
# Tiny budget: 2 iterations of 64 envs x 20 steps; the actor learns from the first.
BUDGET = ["--steps", "2560", "--seeds", "1", "--num-envs", "64", "--episodes", "2",
          "--set", "eval_envs=4", "--set", "critic_warmup_steps=0", "--no-progress"]


def search(out: Path, *extra: str) -> int:
    return main(["search", "hopper", "--start", str(WEAK), "--out", str(out), *BUDGET, *extra])


def summary(out: Path) -> dict:
    return json.loads((out / "search.json").read_text())


@pytest.fixture(scope="module")
def round_one(tmp_path_factory) -> Path:
    """A search folder whose round 1 (the weak program) is trained and measured."""
    out = tmp_path_factory.mktemp("search") / "round1"
    assert search(out, "--rounds", "1") == 0
    return out


def copy_of(round_one: Path, tmp_path: Path) -> Path:
    out = tmp_path / "search"
    shutil.copytree(round_one, out)
    return out


def test_round_one_trains_the_given_program_and_records_what_a_reflection_needs(round_one):
    s = summary(round_one)
    assert s["outcome"] == "ok" and s["context"]["behaviour"]  # offline describe/reason ran
    (row,) = s["rows"]
    assert row["name"] == "r01/sample0.py" and row["trained"]
    assert row["sha256"] == transpile(WEAK.read_text(), 11, 3).sha256
    assert (round_one / "reward.py").read_text() == (round_one / row["path"]).read_text()
    for key in ("recovery_rate", "return_mean", "normal_return_mean", "is_recovered_share"):
        assert isinstance(row[key], float)
    # The program returns its total only: one term, and it is negative on OOD states.
    assert list(row["terms"]) == ["total"] and row["terms"]["total"] < 0
    for label in ("best", "worst"):
        image = Image.open(round_one / row["frames"][label]["file"])
        assert image.size == (FRAME_SIZE[0] * FRAMES_PER_EPISODE, FRAME_SIZE[1])
    report = (round_one / "search.md").read_text()
    assert "| r01/sample0.py |" in report and "![best per round](search.png)" in report
    assert Image.open(round_one / "search.png").size[0] > 500


def test_offline_rounds_continue_and_a_program_seen_before_is_not_trained_again(
        round_one, tmp_path, capsys):
    out = copy_of(round_one, tmp_path)
    stats_before = (out / "rounds" / "01" / "stats.json").read_text()
    assert search(out, "--rounds", "3") == 0
    log = capsys.readouterr().err
    assert "[round 1] training" not in log  # round 1 is continued, not redone
    assert (out / "rounds" / "01" / "stats.json").read_text() == stats_before
    rows = summary(out)["rows"]
    # Offline reflection answers with the reference program, twice per round (--samples 2):
    # trained once in round 2, a copy of it the second time and in round 3.
    reference_sha = transpile(REFERENCE, 11, 3).sha256
    later = [r for r in rows if r["round"] > 1]
    assert [r["name"] for r in later] == ["r02/sample0.py", "r02/sample1.py",
                                          "r03/sample0.py", "r03/sample1.py"]
    assert all(r["sha256"] == reference_sha for r in later)
    assert [r["trained"] for r in later] == [True, False, False, False]
    assert all(r["same_as"] == "r02/sample0.py" for r in later[1:])
    assert log.count("training 1 candidate(s)") == 1
    assert not (out / "rounds" / "03" / "train").exists()
    best = summary(out)["best"]
    assert (out / "reward.py").read_text() == (out / best["path"]).read_text()


def reflection_server(replies: list):
    """A model whose reflection replies are `replies` in order (the last one repeats)."""
    queue = list(replies)

    def respond(request: dict):
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


def test_reflection_over_http_sends_numbers_program_and_frames_and_repairs(
        round_one, tmp_path):
    out = copy_of(round_one, tmp_path)
    broken = "```python\ndef is_recovered(state):\n    while True:\n        pass\n```"
    good = f"The height alone does not teach the angle.\n\n```python\n{REFERENCE}```"
    with ChatServer(reflection_server([broken, good])) as server:
        assert search(out, "--rounds", "2", "--samples", "1", "--model", "openai/test-vlm",
                      "--api-base", server.url, "--no-cache") == 2  # other options: samples
        assert search(out, "--rounds", "2", "--model", "openai/test-vlm",
                      "--api-base", server.url, "--no-cache") == 0
    first, repair, second = server.requests  # sample 0: rejected then repaired; sample 1
    text, *images = first["messages"][0]["content"]
    assert "| r01/sample0.py |" in text["text"] and "state[0] > 0.7" in text["text"]
    assert "is_recovered passed on" in text["text"]
    assert [p["type"] for p in images] == ["image_url", "image_url"]  # best, worst episode
    for part in images:
        png = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).size == (FRAME_SIZE[0] * FRAMES_PER_EPISODE,
                                                    FRAME_SIZE[1])
    assert "could not be used" in repair["messages"][-1]["content"]
    assert first["max_tokens"] == 3000
    rows = summary(out)["rows"]
    assert [r["name"] for r in rows] == ["r01/sample0.py", "r02/sample0.py", "r02/sample1.py"]
    assert rows[1]["trained"] and rows[2]["same_as"] == "r02/sample0.py"
    transcript = json.loads((out / "rounds" / "02" / "transcript.json").read_text())
    assert [e.get("verdict") for e in transcript["exchanges"]] == \
        ["rejected", "accepted", "accepted"]
    assert "base64," not in json.dumps(transcript)


def test_a_hopeless_model_ends_the_search_with_the_best_so_far(round_one, tmp_path, capsys):
    out = copy_of(round_one, tmp_path)
    with ChatServer(reflection_server(["I cannot help with that."])) as server:
        assert search(out, "--rounds", "3", "--model", "openai/test-vlm",
                      "--api-base", server.url, "--no-cache") == 0
    assert "every reply was rejected" in capsys.readouterr().err
    s = summary(out)
    assert s["outcome"] == "no_program" and s["best"]["name"] == "r01/sample0.py"
    assert (out / "reward.py").read_text() == WEAK.read_text()
    assert len(list((out / "rounds" / "02" / "candidates" / "rejected").glob("*.txt"))) == 6


def test_an_unreachable_model_stops_with_the_best_kept_and_a_rerun_continues(
        round_one, tmp_path, capsys):
    out = copy_of(round_one, tmp_path)
    with ChatServer(lambda request: error(401, "bad key", "invalid_request_error")) as server:
        assert search(out, "--rounds", "2", "--model", "openai/test-vlm",
                      "--api-base", server.url, "--no-cache") == 1
    err = capsys.readouterr().err
    assert "authentication failed" in err and "rerun the same command" in err
    assert summary(out)["outcome"] == "model_failed"
    assert (out / "reward.py").read_text() == WEAK.read_text()
    assert search(out, "--rounds", "2") == 0  # offline this time: round 2 is asked anew
    assert [r["name"] for r in summary(out)["rows"]][-1] == "r02/sample1.py"


def test_a_missing_start_program_is_a_clear_error(tmp_path, capsys):
    assert main(["search", "hopper", "--start", str(tmp_path / "missing.py"),
                 "--out", str(tmp_path / "s")]) == 2
    assert "--start" in capsys.readouterr().err and not (tmp_path / "s").exists()
