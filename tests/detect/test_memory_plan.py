"""The training batch planner: a pure function of a measured (batch -> peak bytes) profile."""

from __future__ import annotations

import pytest

from tiledet.detect.memory_plan import fit_profile, parse_memory, plan_batch
from tiledet.errors import ConfigError

GIB = 1024**3


def test_linear_profile_gives_the_hand_computed_batch() -> None:
    # 0.5 GiB fixed + 0.5 GiB per image, measured exactly
    profile = {1: 1 * GIB, 2: int(1.5 * GIB), 4: int(2.5 * GIB), 8: int(4.5 * GIB)}
    fixed, per_image = fit_profile(profile)
    assert fixed == pytest.approx(0.5 * GIB, rel=1e-9)
    assert per_image == pytest.approx(0.5 * GIB, rel=1e-9)
    plan = plan_batch(profile, 6 * GIB, headroom=0.15)
    # usable 6 * 0.85 = 5.1 GiB -> (5.1 - 0.5) / 0.5 = 9.2 -> 9
    assert plan.batch == 9
    assert plan.predicted_peak_bytes == pytest.approx(5.0 * GIB)
    assert plan.predicted_peak_bytes <= plan.usable_bytes
    assert "batch 9" in plan.reason and "headroom" in plan.reason


def test_fixed_part_is_raised_so_no_measurement_is_undercut() -> None:
    # a bump at batch 2: least squares alone would predict below it
    profile = {1: 1000, 2: 2600, 4: 4000, 8: 8000}
    fixed, per_image = fit_profile(profile)
    for batch, peak in profile.items():
        assert fixed + per_image * batch >= peak - 1e-6
    assert any(abs(fixed + per_image * b - p) < 1e-6 for b, p in profile.items())  # touches one point


def test_headroom_and_budget_change_the_answer_monotonically() -> None:
    profile = {1: 300, 2: 500, 4: 900}  # 100 + 200 per image
    assert plan_batch(profile, 2100, headroom=0.0).batch == 10
    assert plan_batch(profile, 2100, headroom=0.5).batch == 4  # 1050 usable -> (1050 - 100) // 200
    assert plan_batch(profile, 10**9, headroom=0.0, max_batch=64).batch == 64


def test_single_measurement_assumes_no_fixed_part() -> None:
    plan = plan_batch({4: 4000}, 10000, headroom=0.0)
    assert plan.fixed_bytes == 0 and plan.per_image_bytes == 1000 and plan.batch == 10


def test_budget_too_small_for_batch_one_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="too small for batch 1"):
        plan_batch({1: 2 * GIB, 2: 3 * GIB}, 2 * GIB)


def test_bad_profiles_are_rejected() -> None:
    with pytest.raises(ConfigError):
        plan_batch({}, GIB)
    with pytest.raises(ConfigError):
        plan_batch({0: 10}, GIB)
    with pytest.raises(ConfigError):
        plan_batch({1: 10}, GIB, headroom=1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("6GiB", 6 * GIB), ("6 GB", 6 * 10**9), ("5500MiB", 5500 * 1024**2), ("1.5gib", int(1.5 * GIB)),
     ("6e9", 6 * 10**9), ("512", 512)],
)
def test_parse_memory(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "six GiB", "6 parsecs", "-1GiB", "0"])
def test_parse_memory_rejects_nonsense(text: str) -> None:
    with pytest.raises(ConfigError, match="gpu_memory") as e:
        parse_memory(text)
    assert e.value.fields == ("gpu_memory",)


def test_measured_profile_on_cuda_grows_with_batch() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("the memory profile is measured on CUDA only; this machine has no CUDA device")
    from tiledet.detect.memory_plan import measure_profile

    profile = measure_profile("yolo11n.yaml", 3, 256, torch.device("cuda"), batches=(1, 2, 4))
    assert sorted(profile) == [1, 2, 4]
    assert profile[1] < profile[2] < profile[4]
    plan = plan_batch(profile, int(torch.cuda.mem_get_info()[0]))
    assert plan.batch >= 1


def test_measure_profile_refuses_cpu() -> None:
    torch = pytest.importorskip("torch")
    from tiledet.detect.memory_plan import measure_profile

    with pytest.raises(ConfigError, match="CUDA"):
        measure_profile("yolo11n.yaml", 3, 64, torch.device("cpu"))


def test_profiled_training_step_runs_and_learns_on_cpu() -> None:
    """The step the CUDA profile measures is a real training step (checked on CPU, where it runs too)."""
    torch = pytest.importorskip("torch")
    from tiledet.detect.memory_plan import training_step
    from tiledet.detect.yolo_model import build_training_model

    device = torch.device("cpu")
    model = build_training_model("yolo11n.yaml", 3, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    training_step(model, optimizer, 2, 64, 3, device, amp=False)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > len(before) // 2  # gradients reached most parameters
