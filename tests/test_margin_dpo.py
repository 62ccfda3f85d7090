"""Margin-aware DPO (trainers.margin_dpo): the loss by hand, log-probs by brute force,
tokenization, and a few real training steps on a tiny model."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from trainers.margin_dpo import (  # noqa: E402
    EncodedPair,
    StepPair,
    encode_pairs,
    margin_dpo_loss,
    sequence_logps,
    train_margin_dpo,
)

VOCAB = (
    "Step 1: find the singers older than 30.",
    "Step 2: count them with count(*).",
    "Step 2: list their names.",
    "Question: How many singers are older than 30?",
)


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    from runners.tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("plain"), vocab_texts=VOCAB, chat_template=False, n_layer=1
    )


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    from runners.tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("chat"), vocab_texts=VOCAB, chat_template=True, n_layer=1
    )


def _load(folder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    return model, AutoTokenizer.from_pretrained(folder)


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


# -- the loss ---------------------------------------------------------------------------


def test_loss_matches_hand_computation():
    # h = (-3.0 - -4.0) - (-5.0 - -4.5) = 1.0 - (-0.5) = 1.5
    # z = beta * h - alpha * ln(margin) = 0.1 * 1.5 - 0.5 * ln(0.25) = 0.15 + 0.693147 = 0.843147
    # loss = -ln(sigmoid(z)) = ln(1 + exp(-z)) = ln(1 + 0.430320) = ln(1.430320) = 0.357922
    z = 0.1 * 1.5 - 0.5 * math.log(0.25)
    expected = math.log1p(math.exp(-z))
    assert expected == pytest.approx(0.357922, abs=1e-6)
    loss, per_pair, h = margin_dpo_loss(
        _t(-3.0), _t(-5.0), _t(-4.0), _t(-4.5), _t(0.25), beta=0.1, alpha=0.5
    )
    assert h.tolist() == pytest.approx([1.5])
    assert per_pair.tolist() == pytest.approx([expected], abs=1e-12)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert loss.dim() == 0


def test_loss_is_the_batch_mean():
    rows = [  # policy chosen, policy rejected, ref chosen, ref rejected, margin
        (-3.0, -5.0, -4.0, -4.5, 0.25),
        (-2.0, -2.0, -2.5, -1.0, 1.0),  # h = 0.5 - (-1.0) = 1.5
        (-6.0, -1.0, -5.0, -2.0, 0.1),  # h = -1.0 - 1.0 = -2.0
    ]
    beta, alpha = 0.2, 0.7
    expected = [
        math.log1p(math.exp(-(beta * ((pc - rc) - (pr - rr)) - alpha * math.log(m))))
        for pc, pr, rc, rr, m in rows
    ]
    columns = [_t(*column) for column in zip(*rows)]
    loss, per_pair, h = margin_dpo_loss(*columns, beta=beta, alpha=alpha)
    assert h.tolist() == pytest.approx([1.5, 1.5, -2.0])
    assert per_pair.tolist() == pytest.approx(expected, abs=1e-12)
    assert loss.item() == pytest.approx(sum(expected) / 3, abs=1e-12)


def test_alpha_zero_is_sigmoid_dpo_and_margin_raises_the_loss():
    pc, pr, rc, rr = _t(-3.0, -1.0), _t(-5.0, -0.5), _t(-4.0, -1.2), _t(-4.5, -0.4)
    beta = 0.3
    h = (pc - rc) - (pr - rr)
    dpo = -torch.nn.functional.logsigmoid(beta * h)
    for margins in (_t(0.25, 0.9), _t(1.0, 1.0)):
        _, per_pair, _ = margin_dpo_loss(pc, pr, rc, rr, margins, beta=beta, alpha=0.0)
        assert torch.allclose(per_pair, dpo)
    # margin 1 is plain DPO whatever alpha is
    _, per_pair, _ = margin_dpo_loss(pc, pr, rc, rr, _t(1.0, 1.0), beta=beta, alpha=0.8)
    assert torch.allclose(per_pair, dpo)
    # at fixed h, a larger margin asks for more separation: a larger loss
    losses = [
        margin_dpo_loss(pc[:1], pr[:1], rc[:1], rr[:1], _t(m), beta=beta, alpha=0.5)[0].item()
        for m in (0.05, 0.2, 0.5, 1.0)
    ]
    assert losses == sorted(losses) and len(set(losses)) == 4


def test_margin_is_clamped_by_the_floor():
    pair = StepPair("q", "prompt", "", "good", "bad", 0.6, 0.55)
    assert pair.margin(0.1) == 0.1
    assert pair.margin(0.01) == pytest.approx(0.05)
    assert StepPair("q", "p", "", "a", "b", 0.2, 0.9).margin(0.05) == 0.05  # reversed values
    assert StepPair("q", "p", "", "a", "b", 1.0, 0.0).margin(0.05) == 1.0


# -- sequence log-probs -----------------------------------------------------------------


def _brute_force(model, context, completion):
    row = torch.tensor([list(context) + list(completion)])
    with torch.no_grad():
        logits = model(input_ids=row).logits[0]
    total = 0.0
    for t in range(len(context), row.shape[1]):
        total += torch.log_softmax(logits[t - 1].double(), dim=-1)[row[0, t]].item()
    return total


def test_sequence_logps_matches_brute_force_with_padding(plain_dir):
    model, tokenizer = _load(plain_dir)
    generator = torch.Generator().manual_seed(0)
    vocab = len(tokenizer)

    def ids(n):
        return torch.randint(3, vocab, (n,), generator=generator).tolist()

    contexts = [ids(7), ids(3), ids(12), ids(1)]
    completions = [ids(5), ids(9), ids(2), ids(4)]
    expected = [_brute_force(model, c, y) for c, y in zip(contexts, completions)]
    with torch.no_grad():
        batched = sequence_logps(model, contexts, completions, tokenizer.pad_token_id)
        alone = [sequence_logps(model, [c], [y], tokenizer.pad_token_id).item()
                 for c, y in zip(contexts, completions)]  # fmt: skip
    assert batched.shape == (4,)
    assert batched.tolist() == pytest.approx(expected, abs=1e-4)
    assert alone == pytest.approx(batched.tolist(), abs=1e-4)  # padding changes nothing
    # an empty completion has log-prob 0
    with torch.no_grad():
        assert sequence_logps(model, [ids(3)], [[]], 0).item() == 0.0


def test_sequence_logps_carries_gradients(plain_dir):
    model, tokenizer = _load(plain_dir)
    out = sequence_logps(model, [[1, 5, 6], [1, 7]], [[8, 9], [10, 11, 12]], 0)
    assert out.requires_grad
    out.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# -- tokenization -----------------------------------------------------------------------


def _pair(**changes):
    fields = dict(
        id="q1",
        prompt="Question: How many singers are older than 30?",
        prefix="Step 1: find the singers older than 30.\n",
        chosen="Step 2: count them with count(*).",
        rejected="Step 2: list their names.",
        value_chosen=0.8,
        value_rejected=0.3,
    )
    fields.update(changes)
    return StepPair(**fields)


def _plain_ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_encode_plain_keeps_bos_once_and_prefix_in_the_context(plain_dir):
    _, tokenizer = _load(plain_dir)
    pair = _pair()
    (enc,), dropped = encode_pairs([pair], tokenizer, max_length=None, margin_floor=0.05)
    assert dropped == 0
    prompt_ids = tokenizer(pair.prompt)["input_ids"]
    assert prompt_ids[0] == tokenizer.bos_token_id
    assert enc.context_ids == prompt_ids + _plain_ids(tokenizer, pair.prefix)
    assert enc.context_ids.count(tokenizer.bos_token_id) == 1
    # the steps are the completions (the only tokens with loss); no BOS/EOS added to them
    assert enc.chosen_ids == _plain_ids(tokenizer, pair.chosen)
    assert enc.rejected_ids == _plain_ids(tokenizer, pair.rejected)
    assert tokenizer.eos_token_id not in enc.chosen_ids + enc.rejected_ids
    assert enc.margin == pytest.approx(0.5) and enc.id == "q1"
    (no_prefix,), _ = encode_pairs(
        [_pair(prefix="")], tokenizer, max_length=None, margin_floor=0.05
    )
    assert no_prefix.context_ids == prompt_ids
    (floored,), _ = encode_pairs(
        [_pair(value_chosen=0.5, value_rejected=0.5)], tokenizer, max_length=None, margin_floor=0.05
    )
    assert floored.margin == 0.05


def test_encode_truncates_left_keeping_bos_and_drops_long_steps(plain_dir):
    _, tokenizer = _load(plain_dir)
    pair = _pair()
    (full,), _ = encode_pairs([pair], tokenizer, max_length=None, margin_floor=0.05)
    longest = max(len(full.chosen_ids), len(full.rejected_ids))
    max_length = longest + 6
    assert len(full.context_ids) + longest > max_length
    (cut,), dropped = encode_pairs([pair], tokenizer, max_length=max_length, margin_floor=0.05)
    assert dropped == 0
    assert len(cut.context_ids) == 6
    assert cut.context_ids == [tokenizer.bos_token_id] + full.context_ids[-5:]
    assert (cut.chosen_ids, cut.rejected_ids) == (full.chosen_ids, full.rejected_ids)
    # fitting pairs are untouched
    (same,), _ = encode_pairs([pair], tokenizer, max_length=500, margin_floor=0.05)
    assert same == full
    # a step that leaves no room for a context token is dropped and counted
    short = _pair(id="short", chosen="ok", rejected="no")
    encoded, dropped = encode_pairs([pair, short], tokenizer, max_length=longest, margin_floor=0.05)
    assert dropped == 1 and [e.id for e in encoded] == ["short"]
    encoded, dropped = encode_pairs([pair], tokenizer, max_length=longest - 3, margin_floor=0.05)
    assert (encoded, dropped) == ([], 1)


def test_encode_chat_template_uses_generation_prompt(chat_dir):
    _, tokenizer = _load(chat_dir)
    pair = _pair()
    (enc,), _ = encode_pairs([pair], tokenizer, max_length=None, margin_floor=0.05)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": pair.prompt}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    prompt_ids = _plain_ids(tokenizer, text)
    assert enc.context_ids == prompt_ids + _plain_ids(tokenizer, pair.prefix)
    assert enc.context_ids.count(tokenizer.bos_token_id) == 1  # from the template, once
    assert enc.chosen_ids == _plain_ids(tokenizer, pair.chosen)  # no end of turn
    # messages win over the prompt text
    with_system = _pair(messages=(("system", "Be brief."), ("user", pair.prompt)))
    (enc2,), _ = encode_pairs([with_system], tokenizer, max_length=None, margin_floor=0.05)
    assert tokenizer.decode(enc2.context_ids).count("Be brief.") == 1
    # chat=False forces the plain form; chat=True needs a template
    (plain,), _ = encode_pairs([pair], tokenizer, max_length=None, margin_floor=0.05, chat=False)
    assert (
        plain.context_ids[: len(tokenizer(pair.prompt)["input_ids"])]
        == tokenizer(pair.prompt)["input_ids"]
    )
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        encode_pairs([pair], tokenizer, max_length=None, margin_floor=0.05, chat=True)
    with pytest.raises(ValueError, match="margin_floor"):
        encode_pairs([pair], tokenizer, max_length=None, margin_floor=0.0)


# -- training ---------------------------------------------------------------------------


def _h(policy, reference, pairs, pad_id):
    """The implicit reward margin h of each pair (no gradients)."""
    contexts = [p.context_ids for p in pairs]
    chosen, rejected = [p.chosen_ids for p in pairs], [p.rejected_ids for p in pairs]
    with torch.no_grad():
        policy_w, policy_l = (
            sequence_logps(policy, contexts, y, pad_id) for y in (chosen, rejected)
        )
        ref_w, ref_l = (sequence_logps(reference, contexts, y, pad_id) for y in (chosen, rejected))
    return (policy_w - ref_w) - (policy_l - ref_l)


def test_training_moves_the_policy_and_not_the_reference(plain_dir):
    policy, tokenizer = _load(plain_dir)
    reference, _ = _load(plain_dir)
    steps = [
        ("count them with count(*).", "list their names.", 0.9, 0.2),
        ("SELECT count(*) FROM singer", "SELECT name FROM singer", 1.0, 0.0),
        ("Step 2: count them.", "Step 2: list names.", 0.7, 0.6),
        ("WHERE age > 30", "WHERE age < 30", 0.8, 0.1),
    ]
    pairs, dropped = encode_pairs(
        [_pair(id=f"q{k}", chosen=c, rejected=r, value_chosen=vc, value_rejected=vr)
         for k, (c, r, vc, vr) in enumerate(steps)],
        tokenizer, max_length=128, margin_floor=0.05,
    )  # fmt: skip
    assert dropped == 0 and len(pairs) == 4
    pad_id = tokenizer.pad_token_id
    h0 = _h(policy, reference, pairs, pad_id)
    assert torch.equal(h0, torch.zeros(4))  # policy == reference: h is exactly 0
    ref_before = {k: v.clone() for k, v in reference.state_dict().items()}
    policy_before = {k: v.clone() for k, v in policy.state_dict().items()}

    summary = train_margin_dpo(
        policy, reference, tokenizer, pairs, steps=8, batch_size=4, lr=1e-3, progress=False
    )
    assert set(summary) == {
        "steps", "pairs", "loss", "loss_first", "loss_last", "reward_margin", "accuracy", "seconds"
    }  # fmt: skip
    assert summary["steps"] == 8 and summary["pairs"] == 4
    # the first step starts from policy == reference: h = 0, loss = -log sigmoid(-alpha log m)
    expected_first = sum(math.log1p(math.exp(0.5 * math.log(p.margin))) for p in pairs) / 4
    assert summary["loss_first"] == pytest.approx(expected_first, abs=1e-5)
    assert summary["loss_last"] < summary["loss_first"]
    assert summary["reward_margin"] > 0 and 0 < summary["accuracy"] <= 1

    assert all(torch.equal(v, ref_before[k]) for k, v in reference.state_dict().items())
    assert any(not torch.equal(v, policy_before[k]) for k, v in policy.state_dict().items())
    h = _h(policy, reference, pairs, pad_id)
    assert h.mean().item() > 0
    assert not policy.training


def test_training_refuses_empty_pairs_and_zero_steps(plain_dir):
    policy, tokenizer = _load(plain_dir)
    pair = EncodedPair("q", [1, 5], [6], [7], 0.5)
    with pytest.raises(ValueError, match="no pairs"):
        train_margin_dpo(policy, policy, tokenizer, [], steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_margin_dpo(policy, policy, tokenizer, [pair], steps=0, progress=False)
