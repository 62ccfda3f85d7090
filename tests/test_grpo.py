"""grpo: the execution reward on crafted cases and on real executions (SQLite, answers only),
and real GRPO steps on micro models for text-to-SQL, table QA (answers only) and code output."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.suite import Suite
from harness.types import Example, Execution, Status
from tests.conftest import make_db
from trainers.execution_reward import (
    RewardScheme,
    answer_bag,
    answers_example,
    execute_answers,
    gold_answers,
    reward,
    rewards_for,
    score,
    supervision_for,
)

GOLD = [("Ada",)]


# -- the reward on crafted cases ------------------------------------------------------------


def test_crafted_outcomes_and_their_order():
    error = score(Status.PRED_ERROR, None, GOLD, parses=True)
    timeout = score(Status.PRED_TIMEOUT, None, GOLD, parses=False)
    empty = score(Status.MISMATCH, [], GOLD, parses=True)
    broad = score(Status.MISMATCH, [(n,) for n in ["Ada", *"BCDEFGHIJ"]], GOLD, parses=True)
    exact = score(Status.MATCH, GOLD, GOLD, parses=True)
    partial = score(Status.MISMATCH, [("Ada",), ("Ben",)], [("Ada",), ("Cleo",)], parses=True)
    wrong = score(Status.MISMATCH, [("Ben",)], GOLD, parses=True)
    assert (error.outcome, error.reward) == ("error", pytest.approx(0.1 - 1.0))
    assert (timeout.outcome, timeout.reward) == ("error", -1.0)
    assert (empty.outcome, empty.reward) == ("empty", pytest.approx(0.1))  # no partial credit
    assert (broad.outcome, broad.reward) == ("overbroad", pytest.approx(0.1 - 0.5))
    assert (exact.outcome, exact.reward) == ("match", pytest.approx(1.1))
    assert (partial.outcome, partial.overlap, partial.reward) == ("partial", 0.5, pytest.approx(0.1 + 0.5 * 0.5))
    assert (wrong.outcome, wrong.reward) == ("wrong", pytest.approx(0.1))
    assert exact.reward > partial.reward > empty.reward > broad.reward > error.reward
    # the gold failing gives no signal at all
    assert score(Status.GOLD_ERROR, [("Ada",)], None, parses=True).reward == 0.0


def test_overbroad_guard_withholds_the_overlap_that_select_star_would_farm():
    everything = [(n,) for n in ["Ada", *"BCDEFGHIJ"]]  # contains the gold row
    unguarded = RewardScheme(overbroad_factor=math.inf)
    assert score(Status.MISMATCH, everything, GOLD, True, unguarded).outcome == "partial"
    assert reward(Status.MISMATCH, everything, GOLD, True, unguarded) > reward(Status.MISMATCH, [], GOLD, True)
    assert reward(Status.MISMATCH, everything, GOLD, True) < reward(Status.MISMATCH, [("Ben",)], GOLD, True)
    # the threshold: more than 3x the gold and more than gold + 2 rows
    rows = [(i,) for i in range(10)]
    assert score(Status.MISMATCH, rows[:3], GOLD, True).outcome == "wrong"  # 3 rows vs 1: not more than gold + 2
    assert score(Status.MISMATCH, rows[:4], GOLD, True).outcome == "overbroad"
    assert score(Status.MISMATCH, rows[:9], rows[:3], True).outcome == "partial"  # 9 = 3x3: not more than 3x
    assert score(Status.MISMATCH, rows[:10], rows[:3], True).outcome == "overbroad"


def test_parse_bonus_is_exactly_the_difference_and_configurable():
    scheme = RewardScheme(parse_bonus=0.25, error_penalty=-2.0, match_reward=3.0, partial_weight=1.0)
    for status, pred in ((Status.PRED_ERROR, None), (Status.MATCH, GOLD), (Status.MISMATCH, [("Ben",)]),
                         (Status.MISMATCH, []), (Status.MISMATCH, [(i,) for i in range(9)])):  # fmt: skip
        with_bonus, without = reward(status, pred, GOLD, True, scheme), reward(status, pred, GOLD, False, scheme)
        assert with_bonus - without == pytest.approx(0.25)
    assert reward(Status.MATCH, GOLD, GOLD, False, scheme) == 3.0
    assert reward(Status.PRED_ERROR, None, GOLD, False, scheme) == -2.0


def test_overlap_is_a_multiset_f1_over_rows_ignoring_column_order_and_case():
    gold = [("Paris", 3), ("Rome", 2.0)]
    assert score(Status.MISMATCH, [(3, "paris"), (2, " ROME ")], gold, True).overlap == 1.0
    assert score(Status.MISMATCH, [("Paris", 3), ("Paris", 3)], gold, True).overlap == pytest.approx(0.5)
    # output lines and answer values are single items
    assert score(Status.MISMATCH, ["1", "2", "x"], ["1", "2", "3"], True).overlap == pytest.approx(2 / 3)


def test_no_extracted_answer_is_an_error_even_when_the_executor_calls_it_a_mismatch():
    lines = Execution(Status.MISMATCH, gold_rows=["3"], pred_rows=[])
    [empty, text] = rewards_for([lines, lines], ["", "4"], [False, True])
    assert empty.outcome == "error" and empty.reward == -1.0
    assert text.outcome == "empty" and text.reward == pytest.approx(0.1)


def test_answers_ignore_row_and_column_structure():
    bags = [Counter(answer_bag(rows)) for rows in ([("Paris", 3)], [(3,), ("paris",)], ["PARIS", 3.0])]
    assert bags[0] == bags[1] == bags[2] == Counter({"paris": 1, "3": 1})
    assert answer_bag([("a", None)]) == ["a", ""]


# -- supervision ------------------------------------------------------------------------------


def table_suite() -> Suite:
    return Suite("t", [], "v", [], "denotation", [], task="table-qa", gold_kind="answer")


def test_supervision_per_suite_and_sql_refused_on_table_qa():
    sql = Suite("s", [], "v", [], "spider", [])
    code = Suite("c", [], "v", [], "output", [], task="code-output", gold_kind="output")
    assert supervision_for(sql, "auto") == "sql" and supervision_for(sql, "answers") == "answers"
    assert supervision_for(table_suite(), "auto") == supervision_for(table_suite(), "answers") == "answers"
    assert supervision_for(code, "auto") == "output"
    with pytest.raises(ValueError, match="supervised by answers only.*supervision=answers"):
        supervision_for(table_suite(), "sql")
    with pytest.raises(ValueError, match="supervision must be one of"):
        supervision_for(sql, "gold")


# -- real executions on SQLite ------------------------------------------------------------------

NAMES = ["Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"]  # ages 30, 35, ..., 75
COMPLETIONS = {  # completion -> outcome, under both supervisions; the gold (age > 65) is Ivo and Jo
    "```sql\nSELECT name FROM person WHERE age >= 70\n```": "match",
    "```sql\nSELECT name FROM person WHERE age >= 65\n```": "partial",  # 3 rows, 2 of them right
    "```sql\nSELECT name FROM person\n```": "overbroad",  # 10 rows for 2
    "```sql\nSELECT name FROM person WHERE age > 99\n```": "empty",
    "```sql\nSELECT nickname FROM person\n```": "error",  # parses, fails to run
    "```sql\nSELEC name FRM person\n```": "error",
    "": "error",
}


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Suite:
    rows = ", ".join(f"('{n}', {30 + 5 * i})" for i, n in enumerate(NAMES))
    db = make_db(tmp_path_factory.mktemp("db") / "people.sqlite",
                 f"CREATE TABLE person (name TEXT, age INT); INSERT INTO person VALUES {rows};")  # fmt: skip
    example = Example("0", "people", "people", "Who is older than 65?", "SELECT name FROM person WHERE age > 65",
                      tier="easy", db_paths=[str(db)])  # fmt: skip
    return Suite("people", [example], "v1", ["easy"], "spider", ["ex"])


@pytest.mark.parametrize("supervision", ["sql", "answers"])
def test_rewards_from_real_executions(people, supervision):
    from trainers.grpo import ExecutionReward, GRPOOptions

    fn = ExecutionReward(people, supervision, GRPOOptions(supervision=supervision))
    texts = list(COMPLETIONS)
    rewards = fn(prompts=[""] * len(texts), completions=texts, example_index=[0] * len(texts))
    assert fn.steps[0]["outcomes"] == {"match": 1, "partial": 1, "overbroad": 1, "empty": 1, "error": 3}
    assert rewards == pytest.approx([1.1, 0.1 + 0.5 * 0.8, 0.1 - 0.5, 0.1, 0.1 - 1.0, -1.0, -1.0])
    record = fn.steps[0]
    assert record["accuracy"] == pytest.approx(1 / 7) and record["error_rate"] == pytest.approx(3 / 7)
    assert record["overbroad_rate"] == pytest.approx(1 / 7) and record["parse_rate"] == pytest.approx(5 / 7)
    summary = fn.summary()
    assert summary["by_tier"] == {"easy": {"completions": 7, "accuracy": 1 / 7, "error_rate": 3 / 7}}
    assert summary["rewards"] == [record["reward"]] and summary["error_rate"] == [record["error_rate"]]


def test_answers_supervision_ignores_structure_and_never_reads_the_gold_sql(people):
    from trainers.feedback import feedback_options, judge

    options = feedback_options(people)
    example = people.examples[0]
    answers = gold_answers(example, options)
    assert sorted(answers) == ["ivo", "jo"]
    hidden = answers_example(example, answers)
    assert hidden.gold == "" and hidden.metadata == {"answers": answers} and example.gold  # answers only
    preds = [
        "SELECT a.name, b.name FROM person a, person b WHERE a.age = 70 AND b.age = 75",  # 1 row x 2 columns
        "SELECT name FROM person WHERE age > 65 ORDER BY name DESC",
        "SELECT name, age FROM person WHERE age > 65",  # extra values
        "SELECT group_concat(name) FROM person WHERE age > 65",  # one value, not the two
    ]
    by_answers = judge(people, [(hidden, p) for p in preds], options=options, executor=execute_answers)
    by_sql = judge(people, [(example, p) for p in preds], options=options)
    assert [v.status for v in by_answers] == [Status.MATCH, Status.MATCH, Status.MISMATCH, Status.MISMATCH]
    assert [v.status for v in by_sql] == [Status.MISMATCH, Status.MATCH, Status.MISMATCH, Status.MISMATCH]
    assert by_answers[2].pred_rows == ["ivo", "70", "jo", "75"]
    assert execute_answers(answers_example(example, None), preds[1], options).status == Status.GOLD_ERROR


# -- real GRPO steps on micro models ------------------------------------------------------------

PROMPT_ROWS = 0
RUN = {"steps": 3, "num_generations": 2, "batch_size": 4, "max_completion_length": 16, "sample_rows": PROMPT_ROWS,
       "warmup": 0, "lr": 1e-3}  # fmt: skip
WARM_ANSWER = "SELECT name FROM customer"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Micro models run far faster on one thread than on two contended ones."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base(tmp_path_factory, suite, one_torch_thread) -> Path:
    """A micro GPT-2 (1 layer, 32 dims, plain BPE tokenizer that adds BOS), long enough for table prompts."""
    from harness.prompts import PromptOptions
    from runners.tiny_models import build_tiny_causal_lm
    from trainers.data import training_texts

    texts = [t.prompt + t.target for t in training_texts(suite, PromptOptions(sample_rows=PROMPT_ROWS))]
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("micro") / "model", vocab_texts=texts, arch="gpt2", n_layer=1, n_embd=32,
        head_dim=16, vocab_size=400, n_positions=4096, chat_template=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def warm(tmp_path_factory, suite, base) -> Path:
    """The micro model after real steps towards one answer (WARM_ANSWER) on two shop questions:
    its samples now parse some of the time, so completions of one question differ in reward."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.prompts import PromptOptions
    from trainers.data import TrainText, encode, training_texts
    from trainers.loop import train

    model, tokenizer = AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)
    texts = training_texts(suite, PromptOptions(sample_rows=PROMPT_ROWS), suite.examples[:2])
    items = encode([TrainText(t.id, t.tier, t.prompt, f"```sql\n{WARM_ANSWER}\n```") for t in texts], tokenizer).items
    train(model, tokenizer, [items], steps_per_stage=30, batch_size=2, lr=2e-2, warmup=0, progress=False)
    folder = tmp_path_factory.mktemp("warm") / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def state(folder: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_grpo_steps_on_the_tiny_suite(suite, warm, tmp_path):
    from trainers.grpo import GRPOTrainer

    shop = copy.copy(suite)
    shop.examples = suite.examples[:3]  # count of customers, product names, customers over 40
    cand = GRPOTrainer().fit(str(warm), shop, RUN, tmp_path / "c", progress=False)
    m = cand.metrics
    assert m["steps"] == 3 and m["supervision"] == "sql" and m["prompts"] == 3 and m["too_long"] == 0
    assert len(m["rewards"]) == len(m["accuracy"]) == len(m["error_rate"]) == len(m["losses"]) == 3
    assert sum(sum(s["outcomes"].values()) for s in m["by_step"]) == 3 * 4
    # trl's logged mean reward is the one recorded here, step by step
    logged = [e["reward"] for e in m["log_history"] if "reward" in e]
    assert logged == pytest.approx(m["rewards"], abs=1e-3)
    assert any(e["reward_std"] > 0 for e in m["log_history"] if "reward_std" in e)
    assert not same(state(Path(cand.model_path())), state(warm))
    assert cand.kind == "full" and cand.model_path() == str(tmp_path / "c" / "model")
    assert cand.runner_options["prompt_options"]["sample_rows"] == PROMPT_ROWS
    assert json.dumps(m)


def test_table_qa_trains_from_answers_alone_and_refuses_sql_supervision(base, tmp_path):
    from suites.synth_table import load_synth_table
    from trainers.grpo import GRPOTrainer

    table = load_synth_table(split="train", size="small", limit=2)
    for example in table.examples:
        del example.metadata["sql"]  # the hidden SQL is off-limits: the run must not need it
    with pytest.raises(ValueError, match="supervised by answers only"):
        GRPOTrainer().fit(str(base), table, {**RUN, "supervision": "sql"}, tmp_path / "refused", progress=False)
    cand = GRPOTrainer().fit(str(base), table, {**RUN, "steps": 2, "max_completion_length": 8}, tmp_path / "c",
                             progress=False)  # fmt: skip
    m = cand.metrics
    assert m["supervision"] == "answers" and m["prompts"] == 2 and m["too_long"] == 0
    assert len(m["rewards"]) == 2 and sum(sum(s["outcomes"].values()) for s in m["by_step"]) == 2 * 4
    assert set(m["by_tier"]) <= set(table.tiers) and all(-1 <= r <= 1.1 for r in m["rewards"])
    # judged, not killed: workers forked after the table prompts ran DuckDB here still open their own
    assert all(s["timeouts"] == 0 for s in m["by_step"])


def test_code_output_suite_in_lora_mode(base, tmp_path):
    from suites.synth_code import export_synth_code, load_synth_code
    from trainers.grpo import GRPOTrainer

    code = load_synth_code(export_synth_code(tmp_path / "synth-code", seed=0, size=12), split="train")
    code.examples[:] = sorted(code.examples, key=lambda ex: len(ex.question))[:2]
    config = {**RUN, "steps": 2, "mode": "lora", "lora_r": 4}
    cand = GRPOTrainer().fit(str(base), code, config, tmp_path / "c", progress=False)
    m = cand.metrics
    assert m["supervision"] == "output" and len(m["rewards"]) == 2 and m["prompts"] == 2
    assert set().union(*(s["outcomes"] for s in m["by_step"])) <= {"error", "empty", "wrong", "partial", "match"}
    assert cand.kind == "lora" and (tmp_path / "c" / cand.adapters["grpo"] / "adapter_config.json").is_file()
    assert same(state(Path(cand.model_path())), state(base))  # the base is untouched


def test_prompts_are_the_inference_prompts_plain_or_chat(suite, base, tmp_path):
    from transformers import AutoTokenizer

    from harness.prompts import build_request
    from runners.tiny_models import build_tiny_causal_lm
    from trainers.grpo import GRPOOptions, training_prompts
    from trainers.sft import FineTune

    cfg = GRPOOptions(steps=2, num_generations=2, batch_size=4, sample_rows=PROMPT_ROWS)
    session = FineTune.open(str(base), cfg, adapter_name="grpo")
    prompts, indices, too_long = training_prompts(suite, session, cfg)
    assert len(prompts) == len(set(indices)) == 4 and too_long == 0
    for prompt, index in zip(prompts, indices):
        assert prompt == build_request(suite, suite.examples[index], session.prompt_options, []).prompt
    tokenizer = AutoTokenizer.from_pretrained(base)  # trl tokenizes plain prompts with their special tokens
    assert tokenizer(text=prompts[:1])["input_ids"][0][0] == tokenizer.bos_token_id
    chat = build_tiny_causal_lm(tmp_path / "chat", n_layer=1, n_embd=32, vocab_size=300, n_positions=2048)
    session = FineTune.open(str(chat), cfg, adapter_name="grpo")
    prompts, indices, _ = training_prompts(suite, session, cfg)
    request = build_request(suite, suite.examples[indices[0]], session.prompt_options, [])
    assert prompts[0] == [{"role": role, "content": content} for role, content in request.messages]
    # a context too short for any prompt is a clear error
    session.max_length = 64
    with pytest.raises(ValueError, match="no question of 'tiny' fits 64 tokens"):
        training_prompts(suite, session, cfg)


def test_options_are_validated_with_clear_errors():
    from trainers.grpo import GRPOOptions

    with pytest.raises(ValueError, match=r"batch_size \(6\) .* multiple of num_generations \(4\), e.g. batch_size=8"):
        GRPOOptions.from_options({"batch_size": 6, "num_generations": 4}, "grpo")
    for bad in ({"num_generations": 1}, {"steps": 0}, {"top_p": 0}, {"supervision": "gold"}, {"nope": 1}):
        with pytest.raises(ValueError):
            GRPOOptions.from_options(bad, "grpo")
    cfg = GRPOOptions.from_options({"parse_bonus": 0.2, "overbroad_factor": 5}, "grpo")
    assert cfg.scheme == RewardScheme(parse_bonus=0.2, overbroad_factor=5) and cfg.prompts_per_step == 2


def test_harness_methods_lists_grpo_options():
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "methods"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("\ngrpo", 1)[1].split("\n\n", 1)[0]
    for option in ("steps=100", "num_generations=4", "batch_size=8", "temperature=1.0", "max_completion_length=128",
                   "beta=0.0", "supervision=auto", "parse_bonus=0.1", "error_penalty=-1.0", "match_reward=1.0",
                   "partial_weight=0.5", "overbroad_factor=3.0", "overbroad_penalty=-0.5", "mode=full"):  # fmt: skip
        assert f"-M {option}" in section, section
