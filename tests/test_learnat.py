"""learnat: the rule-based decomposer, the AST-pruned search, step pairs, and real
synthesis / SFT / margin-aware DPO rounds on a micro model (the proposer included)."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.extraction import extract_sql
from tests.conftest import make_db
from trainers.decomposer import Decomposer, Step
from trainers.decomposition_search import (
    DecompositionSearch,
    SearchConfig,
    format_steps,
    parse_first_step,
    run_searches,
)
from trainers.sql_tree import includes, similarity, to_tree

NESTED = (
    "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
    "WHERE T1.age > (SELECT avg(age) FROM singer WHERE country = 'France') AND T2.year >= 2014 "
    "ORDER BY T1.age DESC"
)
SCHEMA = """
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER, country TEXT);
CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INTEGER, year INTEGER);
INSERT INTO singer VALUES (1, 'Ana', 52, 'France'), (2, 'Ben', 23, 'France'), (3, 'Cy', 41, 'Chile'),
                          (4, 'Di', 35, 'Peru'), (5, 'Ed', 60, 'Chile');
INSERT INTO concert VALUES (1, 1, 2015), (2, 3, 2013), (3, 3, 2016), (4, 4, 2014), (5, 5, 2012), (6, 2, 2019);
"""


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


# -- the rule-based decomposer ----------------------------------------------------------


def test_a_nested_query_is_recovered_step_by_step_and_executes_to_the_gold(tmp_path):
    db = make_db(tmp_path / "concert.sqlite", SCHEMA)
    steps = Decomposer(NESTED).canonical()
    assert [s.sql for s in steps] == [
        "SELECT AVG(age) FROM singer",
        "SELECT AVG(age) FROM singer WHERE country = 'France'",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
        "WHERE T1.age > (SELECT AVG(age) FROM singer WHERE country = 'France')",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
        "WHERE T1.age > (SELECT AVG(age) FROM singer WHERE country = 'France') AND T2.year >= 2014",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
        "WHERE T1.age > (SELECT AVG(age) FROM singer WHERE country = 'France') AND T2.year >= 2014 "
        "ORDER BY T1.age DESC",
    ]
    # the subquery is referred to by its step in the outer filter's sub-question
    assert steps[3].question == "Keep only the rows where T1.age > (sub-question 2)."
    assert steps[2].question.startswith(
        "Join singer AS T1 with concert AS T2 on T1.singer_id = T2.singer_id"
    )
    assert all(includes(NESTED, s.sql) for s in steps)
    assert to_tree(steps[-1].sql) == to_tree(NESTED)
    assert rows(db, steps[-1].sql) == rows(db, NESTED) == [("Ana",), ("Cy",)]
    assert rows(db, steps[1].sql) == [(37.5,)]  # an inner step is a runnable query of its own


def test_every_rule_step_of_the_tiny_suite_is_a_subtree_and_the_last_is_the_gold(suite):
    for example in suite.examples:
        steps = Decomposer(example.gold).canonical()
        assert all(includes(example.gold, s.sql) for s in steps), example.gold
        assert to_tree(steps[-1].sql) == to_tree(example.gold)
        values = [similarity(s.sql, example.gold) for s in steps]
        assert values[-1] == 1.0 and all(v < 1.0 for v in values[:-1])


def test_set_operations_decompose_each_side_then_combine():
    gold = (
        "SELECT major FROM student WHERE year = 1 EXCEPT SELECT major FROM student WHERE year = 4"
    )
    steps = Decomposer(gold).canonical()
    assert [s.sql for s in steps[:2]] == [
        "SELECT major FROM student",
        "SELECT major FROM student WHERE year = 1",
    ]
    assert steps[-1].question == "Take the difference of the results of sub-questions 2 and 4."
    assert len(steps) == 5


def test_grouping_steps():
    steps = Decomposer(
        "SELECT category, count(*) FROM product GROUP BY category HAVING count(*) > 2"
    ).canonical()
    assert [s.question for s in steps] == [
        "From product, list the category.",
        "For each category, compute COUNT(*).",
        "Keep only the groups where COUNT(*) > 2.",
    ]


def test_corrupted_steps_are_wrong_and_not_subtrees():
    decomposer = Decomposer(NESTED)
    for step in decomposer.canonical():
        for wrong in decomposer.corrupt(step, 3, seed=1):
            assert (
                wrong.source == "corrupt"
                and wrong.sql != step.sql
                and wrong.question == step.question
            )
            assert not includes(NESTED, wrong.sql), wrong.sql


def test_undecomposable_gold_is_a_clear_error():
    with pytest.raises(ValueError, match="WITH"):
        Decomposer("WITH x AS (SELECT 1 AS a) SELECT a FROM x")
    with pytest.raises(ValueError):
        Decomposer("SELEC name FROM")


# -- the search -------------------------------------------------------------------------


def test_a_wrong_model_step_is_pruned_and_a_right_one_kept():
    search = DecompositionSearch(NESTED, SearchConfig(corruptions=0))
    leaf = search.select()
    proposals = [
        Step(
            "Singers younger than average?",
            "SELECT avg(age) FROM singer WHERE country = 'Peru'",
            None,
            "model",
        ),
        Step(
            "Average age?", "SELECT avg(T9.age) FROM singer AS T9", None, "model"
        ),  # an alias: same tree
        Step("Nonsense", "SELEC FROM", None, "model"),
    ]
    search.expand(leaf, proposals)
    assert [c.step.sql for c in leaf.children] == ["SELECT avg(T9.age) FROM singer AS T9"]
    kept = leaf.children[0]
    assert kept.step.source == "model" and kept.step.state == frozenset(
        {"0:from"}
    )  # matched the rule step
    assert 0 < kept.value < 1
    pruned = {step.sql: value for step, value in leaf.pruned}
    assert set(pruned) == {proposals[0].sql, proposals[2].sql}
    assert pruned["SELEC FROM"] == 0.0 and 0 < pruned[proposals[0].sql] < 1
    assert search.stats["model_proposals"] == 3 and search.stats["model_kept"] == 1


def test_rules_propose_when_no_model_step_survives():
    search = DecompositionSearch(NESTED, SearchConfig(corruptions=1))
    leaf = search.select()
    search.expand(leaf, [Step("?", "SELECT name FROM concert", None, "model")])
    assert {c.step.source for c in leaf.children} == {"rules"}
    assert {c.step.sql for c in leaf.children} == {
        "SELECT AVG(age) FROM singer",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
    }
    assert {s.source for s, _ in leaf.pruned} == {"model", "corrupt"}


def test_a_free_model_step_is_followed_by_the_whole_query():
    search = DecompositionSearch(
        "SELECT name FROM singer WHERE age > 30 AND country = 'Chile'", SearchConfig()
    )
    leaf = search.select()
    # a subtree, but no state of the rules (two filters at once, no single component)
    search.expand(
        leaf,
        [Step("?", "SELECT name FROM singer WHERE country = 'Chile' AND age > 30", None, "model")],
    )
    (child,) = leaf.children
    assert child.step.state is None and child.complete  # conjunct order does not matter
    search2 = DecompositionSearch(
        "SELECT name FROM singer WHERE age > 30 AND country = 'Chile' ORDER BY age", SearchConfig()
    )
    leaf2 = search2.select()
    search2.expand(
        leaf2,
        [Step("?", "SELECT name FROM singer WHERE country = 'Chile' AND age > 30", None, "model")],
    )
    assert search2.decomposer.next_steps([leaf2.children[0].step]) == [
        search2.decomposer.final_step()
    ]


def test_search_completes_and_pairs_prefer_the_better_step(suite):
    searches = [
        DecompositionSearch(ex.gold, SearchConfig(simulations=16), seed=0) for ex in suite.examples
    ]
    run_searches(searches, 16)
    for search in searches:
        path, by_rules = search.best_path()
        assert not by_rules and to_tree(path[-1].sql) == search.gold_tree
        pairs = search.pairs(path)
        for pair in pairs:
            assert pair.value_chosen > pair.value_rejected
            assert (
                pair.chosen == path[len(pair.prefix)]
                and list(pair.prefix) == path[: len(pair.prefix)]
            )
            assert (
                not includes(search.gold_tree, pair.rejected.sql) or pair.rejected.source == "rules"
            )
    assert sum(len(s.pairs(s.best_path()[0])) for s in searches) > len(searches)


def test_a_small_budget_or_depth_still_ends_with_the_gold():
    short = DecompositionSearch(NESTED, SearchConfig(simulations=1))
    run_searches([short], 1)
    path, by_rules = short.best_path()
    assert by_rules and path[-1].sql == short.gold
    shallow = DecompositionSearch(NESTED, SearchConfig(max_depth=2))
    run_searches([shallow], 24)
    path, by_rules = shallow.best_path()
    assert len(path) == 2 and path[-1].sql == shallow.gold and not by_rules


def test_step_text_round_trips_and_extraction_takes_the_last_sql():
    steps = Decomposer(NESTED).canonical()
    text = format_steps(steps)
    assert extract_sql(text) == steps[-1].sql
    assert extract_sql("\n" + text.rstrip("\n") + "\nSub-question 7: more") == steps[-1].sql
    cont = text.split("Sub-question 3:", 1)[1]
    assert parse_first_step(cont) == Step(steps[2].question, steps[2].sql, None, "model")


# -- the method -------------------------------------------------------------------------


def test_options_are_validated():
    from trainers.learnat import LearNATConfig

    with pytest.raises(ValueError, match="unknown option"):
        LearNATConfig.from_options({"simulation": 3})
    with pytest.raises(ValueError, match="proposer"):
        LearNATConfig.from_options({"proposer": "oracle"})
    with pytest.raises(ValueError, match="margin_floor"):
        LearNATConfig.from_options({"margin_floor": 0})


def test_harness_methods_lists_learnat():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "methods"], capture_output=True, text=True, check=True
    )
    section = proc.stdout.split("\nlearnat", 1)[1].split("\n\n", 1)[0]
    for option in (
        "simulations=24",
        "max_depth=8",
        "alpha=0.1",
        "beta=0.1",
        "proposer=auto",
        "dpo_steps=200",
    ):
        assert f"-M {option}" in section, section


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness.prompts import PromptOptions  # noqa: E402
from runners.tiny_models import build_tiny_causal_lm  # noqa: E402
from trainers.data import training_texts  # noqa: E402
from trainers.learnat import LearNATTrainer  # noqa: E402

TINY = {"simulations": 6, "sft_steps": 3, "dpo_steps": 2, "batch_size": 2, "jobs": 1, "sample_rows": 0,
        "probe_questions": 2, "proposals": 2, "lr": 1e-3, "dpo_lr": 1e-3}  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory, suite) -> Path:
    """A micro GPT-2 with a plain BPE tokenizer that has seen prompts and decompositions."""
    texts = [t.prompt + t.target for t in training_texts(suite, PromptOptions(sample_rows=0))]
    texts += [format_steps(Decomposer(ex.gold).canonical()) for ex in suite.examples]
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("micro") / "model", vocab_texts=texts, arch="gpt2", n_layer=1,
        n_embd=32, head_dim=16, vocab_size=400, n_positions=1024, chat_template=False,
    )  # fmt: skip


def weights(folder: Path | str) -> dict:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_one_round_synthesizes_verifies_and_trains(suite, base, tmp_path):
    cand = LearNATTrainer().fit(str(base), suite, TINY, tmp_path / "c", progress=False)
    (record,) = cand.metrics["rounds"]
    assert record["questions"] == len(suite.examples) and record["undecomposable"] == 0
    assert (
        record["proposer"] == "rules" and record["probe"]["questions"] == 2
    )  # an untrained model cannot propose
    assert record["kept"] == record["verification"]["match"] == len(suite.examples)
    assert (
        record["sft"]["steps"] == 3 and record["dpo"]["steps"] == 2 and record["dpo"]["pairs"] > 0
    )
    assert cand.metrics["steps"] == 5 and cand.kind == "full"
    before, after = weights(base), weights(cand.model_path())
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert cand.runner_options["prompt_options"]["sample_rows"] == 0
    assert cand.runner_options["max_new_tokens"] >= max(256, record["sft"]["longest_target"])


def test_a_wrong_gold_is_not_kept(suite, base, tmp_path):
    broken = dataclasses.replace(
        suite, examples=[dataclasses.replace(e) for e in suite.examples[:4]]
    )
    broken.examples[0].gold = "SELECT name FROM no_such_table"
    config = {**TINY, "proposer": "rules", "dpo_steps": 0}
    cand = LearNATTrainer().fit(str(base), broken, config, tmp_path / "c", progress=False)
    (record,) = cand.metrics["rounds"]
    assert record["kept"] == 3 and record["verification"].get("gold_error") == 1
    assert "steps" not in record["dpo"] and record["probe"] is None


def test_the_trained_model_proposes_in_the_next_round(suite, base, tmp_path):
    few = dataclasses.replace(suite, examples=suite.examples[:3])
    config = {**TINY, "rounds": 2, "sft_steps": 150, "dpo_steps": 0, "lr": 3e-3, "proposal_temperature": 0.2,
              "proposals": 3, "probe_questions": 3, "model_simulations": 2}  # fmt: skip
    cand = LearNATTrainer().fit(str(base), few, config, tmp_path / "c", progress=False)
    first, second = cand.metrics["rounds"]
    assert first["proposer"] == "rules" and first["model_proposals"] == 0
    assert second["proposer"] == "model" and second["probe"]["kept"] > 0
    assert second["model_proposals"] > 0 and second["model_kept"] > 0
    assert second["kept"] == 3


def test_a_code_suite_is_refused(base, tmp_path):
    from suites.synth_code import export_synth_code, load_synth_code

    code = load_synth_code(export_synth_code(tmp_path / "code", seed=0, size=6), split="train")
    with pytest.raises(ValueError, match="decomposes gold SQL"):
        LearNATTrainer().fit(str(base), code, TINY, tmp_path / "c", progress=False)


def test_harness_run_generates_with_the_candidates_budget(tmp_path, monkeypatch):
    import json

    from tests.test_eval_cli import harness

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    folder = build_tiny_causal_lm(tmp_path / "m", arch="gpt2", n_layer=1, n_embd=32, vocab_size=300,
                                  n_positions=1024, chat_template=False)  # fmt: skip
    method = ["--method", "learnat", "-M", "simulations=2", "-M", "sft_steps=1", "-M", "dpo_steps=1",
              "-M", "questions=6", "-M", "probe_questions=1", "-M", "proposals=1", "-M", "jobs=1"]  # fmt: skip
    for extra, expected in (([], None), (["--max-new-tokens", "8"], 8)):
        out = tmp_path / f"run{len(extra)}"
        proc = harness("run", "--suite", "synth-sql", "-S", "size=tiny", "--model", str(folder), *method,
                       "--limit", "1", "--out", str(out), *extra)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        spec = json.loads((out / "run.json").read_text())["spec"]
        budget = json.loads((out / "candidate.json").read_text())["runner_options"]["max_new_tokens"]
        assert budget >= 256
        assert spec["generation"]["max_new_tokens"] == (expected or budget)
