"""The `lamour` command line as users call it (real subprocesses for the exit-code contract)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lamour_jax.cli import main
from lamour_jax.envs import make
from lamour_jax.render import drawing_model, render_frames


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "lamour_jax.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_envs_json_lists_all_six():
    out = run_cli("envs", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["env"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {"ant", "halfcheetah", "hopper", "walker2d", "humanoid", "pushchair"}
    assert rows["ant"]["obs_dim"] == 111 and rows["humanoid"]["action_dim"] == 21
    assert rows["hopper"]["dt"] == pytest.approx(0.008)
    assert rows.pop("pushchair")["episode_length"] == 400
    assert all(r["episode_length"] == 1000 for r in rows.values())


@pytest.mark.parametrize("args", [("sample", "hoppr", "--out", "x.npz"),
                                  ("sample", "hopper", "--mode", "wild", "--out", "x.npz"),
                                  ("render", "robot", "--out", "x.png")])
def test_unknown_names_exit_2_with_valid_list(args):
    out = run_cli(*args)
    assert out.returncode == 2
    assert "invalid choice" in out.stderr
    assert ("'hopper'" in out.stderr) or ("'paper'" in out.stderr and "'diverse'" in out.stderr)


def test_sample_writes_the_contract_arrays(tmp_path):
    path = tmp_path / "s.npz"
    assert main(["sample", "hopper", "--mode", "paper", "--n", "5", "--seed", "3",
                 "--out", str(path)]) == 0
    with np.load(path) as z:
        assert z["qpos"].shape == (5, 6) and z["qvel"].shape == (5, 6)
        assert z["obs"].shape == (5, 11) and z["valid"].shape == (5,)
        assert z["valid"].dtype == bool and not z["valid"].any()
        np.testing.assert_allclose(z["obs"][:, 0], z["qpos"][:, 1])  # obs = qpos[1:] + ...
    normal = tmp_path / "n.npz"
    assert main(["sample", "hopper", "--normal", "--n", "5", "--out", str(normal)]) == 0
    with np.load(normal) as z:
        assert z["valid"].all()


def test_sample_bad_output_is_a_clear_error(tmp_path, capsys):
    assert main(["sample", "hopper", "--out", str(tmp_path / "x.csv")]) == 2
    assert ".npz" in capsys.readouterr().err


def test_render_ood_and_normal_images_differ(tmp_path):
    ood, normal = tmp_path / "ood.png", tmp_path / "normal.png"
    assert main(["render", "hopper", "--ood", "--width", "160", "--height", "120",
                 "--out", str(ood)]) == 0
    assert main(["render", "hopper", "--normal", "--width", "160", "--height", "120",
                 "--out", str(normal)]) == 0
    a = np.asarray(Image.open(ood).convert("RGB"), float)
    b = np.asarray(Image.open(normal).convert("RGB"), float)
    assert a.shape == (120, 160, 3)
    assert a.std() > 10  # a real scene, not a blank frame
    assert np.abs(a - b).mean() > 1.0  # the fallen and the standing hopper look different


def test_render_gif_rollout(tmp_path):
    gif = tmp_path / "roll.gif"
    assert main(["render", "hopper", "--steps", "5", "--width", "96", "--height", "72",
                 "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 6


def test_render_wrong_suffix_exit_2(tmp_path, capsys):
    assert main(["render", "hopper", "--out", str(tmp_path / "x.jpg")]) == 2
    assert ".png" in capsys.readouterr().err


def test_reward_check_reports_a_reference_program():
    out = run_cli("reward", "check", "rewards/reference/hopper.py", "--env", "hopper",
                  "--n", "8", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["passed"] and report["never_positive"] and report["rises"]
    assert report["recovered_normal"] == 1.0 and report["recovered_ood"] == 0.0
    assert report["rise_curve"][-1] > report["rise_curve"][0]


def test_reward_check_flags_a_bad_reward_and_a_rejected_one(tmp_path):
    positive = tmp_path / "positive.py"
    positive.write_text("def is_recovered(state):\n    return 1\n"
                        "def calculate_reward(state, action):\n    return 1.0 - state[0]\n")
    out = run_cli("reward", "check", str(positive), "--env", "hopper", "--n", "8")
    assert out.returncode == 1
    assert "never positive | NO" in out.stdout and "overall: FAIL" in out.stdout
    hostile = tmp_path / "hostile.py"
    hostile.write_text("import os\ndef is_recovered(state):\n    return 1\n"
                       "def calculate_reward(state, action):\n    return -1.0\n")
    out = run_cli("reward", "check", str(hostile), "--env", "hopper")
    assert out.returncode == 1
    assert "rejected: line 1: `import os` is not allowed" in out.stderr


def test_a_robot_far_down_the_track_is_filmed_on_a_checkered_floor():
    """The ant walks ~150 m in an episode, past the 40 m its asset's floor is drawn to: videos
    draw floors larger, with the same squares, and leave the env's physics model alone."""
    env = make("ant", "normal")
    qpos = env.robot.mj_model.qpos0.copy()
    qpos[0] = 150.0
    frame = render_frames(env, [qpos], 160, 120, follow=True)[0].astype(float)
    assert frame[-30:].std() > 30  # black and white squares under it, not the empty backdrop
    floor = env.robot.mj_model.geom("floor").id
    drawn, physics = drawing_model(env), env.robot.mj_model
    assert physics.geom_size[floor, 0] == 40.0 and drawn.geom_size[floor, 0] >= 1000.0

    def square(m):
        return m.geom_size[floor, 0] / m.mat_texrepeat[m.geom_matid[floor], 0]

    assert square(drawn) == pytest.approx(square(physics))


def test_videos_film_the_fixed_view_moving_with_the_robot():
    env = make("hopper", "normal")
    spawn = env.robot.mj_model.qpos0.copy()
    walked = spawn.copy()
    walked[0] += 4.0  # six repeats of the floor's checker texture further on

    def frame(qpos, follow):
        return render_frames(env, [qpos], 160, 120, follow=follow)[0].astype(float)

    assert np.array_equal(frame(spawn, True), frame(spawn, False))  # the same view at spawn
    # 4 m on, the following view sees what it saw at spawn; the fixed one has lost the robot.
    assert np.abs(frame(walked, True) - frame(spawn, True)).mean() < 0.5
    assert np.abs(frame(walked, False) - frame(spawn, False)).mean() > 1.0


def test_evaluate_all_members_reports_success_where_the_task_has_it(capsys):
    """`lamour evaluate --member all` on PushChair carries the task's success per policy and
    over the policies (the issue's headline metric); a task without one keeps its columns."""
    assert main(["evaluate", "lamour_jax/policies/pushchair", "--member", "all",
                 "--episodes", "2", "--variant", "normal"]) == 0
    table = capsys.readouterr().out
    assert "| reached a valid state | success |" in table
    assert re.search(r"^success over .+: \d+% ± \d+%$", table, re.MULTILINE), table
    header, _, row = [line for line in table.splitlines() if line.startswith("|")][:3]
    assert row.startswith("| 0 |") and row.count("|") == header.count("|"), table
    assert re.fullmatch(r".*\| \d+% \| \d+% \|", row), row  # reached a valid state, success
