"""The layer-group rule held against 20 architectures, each a tiny random model built from its config.

For each: the groups are the ones README's table lists, in that order; they cover every parameter
once; every parameter of a group matches that group's name pattern for this architecture (so a
shared table or a final norm filed under the last layer fails here); the real engine trains 3 steps
with the first layer (or ALBERT's shared stack) frozen, which stays bit-identical while every other
group moves. No download: the tokenizer is conftest's offline WordPiece one, the configs are tiny.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import transformers as T
from conftest import SAMPLES, tiny_engine, wordpiece_tokenizer

from cockpit.cli.main import main
from cockpit.contract.errors import CockpitError
from cockpit.training.instruments import GroupNorms
from cockpit.training.lora import LoraSpec, apply_lora
from cockpit.training.model import expand_groups, layer_groups, load_model, ratio_note

SIZE = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128
)
DECODER = dict(SIZE, num_key_value_heads=1)


@dataclass
class Arch:
    """A tiny config, its groups in order, and the name pattern every parameter of each group matches."""

    config: Callable[[dict[str, int]], T.PretrainedConfig]  # given the tokenizer's ids
    groups: dict[str, str]  # group name -> regex the parameter names of that group match (from the start)
    freeze: str = "layer.0"
    base: type | None = None  # the base model class, where AutoModel.from_config cannot pick it


def _bert_like(prefix: str, embeddings: str = "embeddings\\.", pooler: bool = False) -> dict[str, str]:
    groups = {
        "embeddings": rf"{prefix}\.{embeddings}",
        "layer.0": rf"{prefix}\.encoder\.layer\.0\.",
        "layer.1": rf"{prefix}\.encoder\.layer\.1\.",
    }
    if pooler:
        groups["pooler"] = rf"{prefix}\.pooler\."
    return {**groups, "head": r"classifier\."}


def _decoder_only(final_norm: str = "norm") -> dict[str, str]:
    return {
        "embeddings": r"model\.embed_tokens\.",
        "layer.0": r"model\.layers\.0\.",
        "layer.1": r"model\.layers\.1\.",
        "final_norm": rf"model\.{final_norm}\.",
        "head": r"score\.",
    }


ZOO: dict[str, Arch] = {
    "bert": Arch(lambda ids: T.BertConfig(**SIZE, **ids), _bert_like("bert", pooler=True)),
    "distilbert": Arch(
        lambda ids: T.DistilBertConfig(
            dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128, **ids
        ),
        {
            "embeddings": r"distilbert\.embeddings\.",
            "layer.0": r"distilbert\.transformer\.layer\.0\.",
            "layer.1": r"distilbert\.transformer\.layer\.1\.",
            "head": r"(pre_classifier|classifier)\.",
        },
    ),
    "roberta": Arch(lambda ids: T.RobertaConfig(**SIZE, **ids), _bert_like("roberta")),
    "xlm-roberta": Arch(lambda ids: T.XLMRobertaConfig(**SIZE, **ids), _bert_like("roberta")),
    # embeddings_project (embedding size 16 -> hidden 32) runs before the first layer
    "electra": Arch(
        lambda ids: T.ElectraConfig(embedding_size=16, **SIZE, **ids),
        _bert_like("electra", embeddings="(embeddings\\.|embeddings_project\\.)"),
    ),
    # one set of layer weights run by every layer; embedding_hidden_mapping_in projects 16 -> 32 first
    "albert": Arch(
        lambda ids: T.AlbertConfig(embedding_size=16, **SIZE, **ids),
        {
            "embeddings": r"albert\.(embeddings\.|encoder\.embedding_hidden_mapping_in\.)",
            "layers.shared": r"albert\.encoder\.albert_layer_groups\.0\.",
            "pooler": r"albert\.pooler\.",
            "head": r"classifier\.",
        },
        freeze="layers.shared",
    ),
    # rel_embeddings and the norm over them are read by every layer; the convolution runs on layer 0's output
    "deberta-v2": Arch(
        lambda ids: T.DebertaV2Config(
            **SIZE,
            **ids,
            relative_attention=True,
            position_buckets=16,
            pos_att_type=["p2c", "c2p"],
            norm_rel_ebd="layer_norm",
            conv_kernel_size=3,
        ),
        {
            "embeddings": r"deberta\.(embeddings\.|encoder\.rel_embeddings\.|encoder\.LayerNorm\.)",
            "layer.0": r"deberta\.encoder\.(layer\.0\.|conv\.)",
            "layer.1": r"deberta\.encoder\.layer\.1\.",
            "head": r"(pooler|classifier)\.",  # DeBERTa's ContextPooler belongs to the classification class
        },
    ),
    "modernbert": Arch(
        lambda ids: T.ModernBertConfig(
            **SIZE, **ids, global_attn_every_n_layers=2, local_attention=16, cls_token_id=ids["bos_token_id"]
        ),
        {
            "embeddings": r"model\.embeddings\.",
            "layer.0": r"model\.layers\.0\.",
            "layer.1": r"model\.layers\.1\.",
            "final_norm": r"model\.final_norm\.",
            "head": r"(head|classifier)\.",
        },
    ),
    "longformer": Arch(
        lambda ids: T.LongformerConfig(**SIZE, **ids, attention_window=[8, 8]), _bert_like("longformer")
    ),
    # relative_attention_bias sits at the encoder's level and every layer reads it
    "mpnet": Arch(
        lambda ids: T.MPNetConfig(**SIZE, **ids),
        _bert_like("mpnet", embeddings="(embeddings\\.|encoder\\.relative_attention_bias\\.)"),
    ),
    "xlnet": Arch(
        lambda ids: T.XLNetConfig(d_model=32, n_layer=2, n_head=2, d_inner=64, **ids),
        {
            "embeddings": r"transformer\.(word_embedding\.|mask_emb$)",
            "layer.0": r"transformer\.layer\.0\.",
            "layer.1": r"transformer\.layer\.1\.",
            "head": r"(sequence_summary|logits_proj)\.",
        },
    ),
    # blocks of 1 and 2 layers: one group per layer, numbered through the blocks
    "funnel": Arch(
        lambda ids: T.FunnelConfig(d_model=32, n_head=2, d_head=16, d_inner=64, block_sizes=[1, 2], **ids),
        {
            "embeddings": r"funnel\.embeddings\.",
            "layer.0": r"funnel\.encoder\.blocks\.0\.0\.",
            "layer.1": r"funnel\.encoder\.blocks\.1\.0\.",
            "layer.2": r"funnel\.encoder\.blocks\.1\.1\.",
            "head": r"classifier\.",
        },
        base=T.FunnelBaseModel,  # AutoModel.from_config fails on a FunnelConfig without `architectures`
    ),
    "gpt2": Arch(
        lambda ids: T.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=128, **ids),
        {
            "embeddings": r"transformer\.(wte|wpe)\.",
            "layer.0": r"transformer\.h\.0\.",
            "layer.1": r"transformer\.h\.1\.",
            "final_norm": r"transformer\.ln_f\.",
            "head": r"score\.",
        },
    ),
    "llama": Arch(lambda ids: T.LlamaConfig(**DECODER, **ids), _decoder_only()),
    "qwen2": Arch(lambda ids: T.Qwen2Config(**DECODER, **ids), _decoder_only()),
    "mistral": Arch(lambda ids: T.MistralConfig(**DECODER, **ids), _decoder_only()),
    "phi": Arch(lambda ids: T.PhiConfig(**SIZE, **ids), _decoder_only("final_layernorm")),
    "gemma": Arch(lambda ids: T.GemmaConfig(**DECODER, **ids, head_dim=16), _decoder_only()),
    # one shared token table for both stacks, then each stack's positions; no final norm in BART
    "bart": Arch(
        lambda ids: T.BartConfig(
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            decoder_start_token_id=ids["eos_token_id"],
            **ids,
        ),
        {
            "embeddings": r"model\.(shared\.|(encoder|decoder)\.(embed_positions|layernorm_embedding)\.)",
            "encoder.layer.0": r"model\.encoder\.layers\.0\.",
            "encoder.layer.1": r"model\.encoder\.layers\.1\.",
            "decoder.layer.0": r"model\.decoder\.layers\.0\.",
            "decoder.layer.1": r"model\.decoder\.layers\.1\.",
            "head": r"classification_head\.",
        },
        freeze="encoder.layer.0",
    ),
    # each stack's relative_attention_bias sits in its block 0 and is passed on to every later block
    "t5": Arch(
        lambda ids: T.T5Config(
            d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2, decoder_start_token_id=0, **ids
        ),
        {
            "embeddings": r"transformer\.(shared|(en|de)coder\.block\.0\.layer\.0\.SelfAttention"
            r"\.relative_attention_bias)\.",
            "encoder.layer.0": r"transformer\.encoder\.block\.0\.layer\.\d\.(?!SelfAttention\.relative_attention_bias)",
            "encoder.layer.1": r"transformer\.encoder\.block\.1\.",
            "encoder.final_norm": r"transformer\.encoder\.final_layer_norm\.",
            "decoder.layer.0": r"transformer\.decoder\.block\.0\.layer\.\d\.(?!SelfAttention\.relative_attention_bias)",
            "decoder.layer.1": r"transformer\.decoder\.block\.1\.",
            "decoder.final_norm": r"transformer\.decoder\.final_layer_norm\.",
            "head": r"classification_head\.",
        },
        freeze="encoder.layer.0",
    ),
}


def build(arch: str, target: Path) -> Path:
    """Save a tiny random `arch` (its base model, as a pretrained checkpoint is) with the WordPiece tokenizer."""
    tokenizer = wordpiece_tokenizer()
    ids = {
        "vocab_size": len(tokenizer) + 8,  # room for a special token a model type's tokenizer class adds (Qwen2)
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        # BART and T5 classify from the last end-of-sequence token: [SEP], which ends every row
        "eos_token_id": tokenizer.sep_token_id,
    }
    torch.manual_seed(0)
    config = ZOO[arch].config(ids)
    model = ZOO[arch].base(config) if ZOO[arch].base else T.AutoModel.from_config(config)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    built: dict[str, Path] = {}

    def folder(arch: str) -> Path:
        if arch not in built:
            built[arch] = build(arch, tmp_path_factory.mktemp(arch))
        return built[arch]

    return folder


@pytest.mark.parametrize("arch", sorted(ZOO))
def test_groups_follow_the_rule_and_a_frozen_layer_stays_bit_identical(
    arch: str, zoo: Callable[[str], Path], tmp_path: Path
) -> None:
    spec = ZOO[arch]
    engine = tiny_engine(
        SAMPLES / "sentiment.parquet", tmp_path / "run", zoo(arch), freeze=spec.freeze, max_steps=3, eval_rows=16
    )
    model, groups = engine.model, engine.groups
    assert [g.name for g in groups] == list(spec.groups)

    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(id(p) for g in groups for p in g.params) == sorted(names), "every parameter in exactly one group"
    for group in groups:
        assert group.params, f"{group.name} is empty"
        strays = [names[id(p)] for p in group.params if not re.match(spec.groups[group.name], names[id(p)])]
        assert not strays, f"{group.name} holds {strays}"

    before = {g.name: [p.detach().clone() for p in g.params] for g in groups}
    ended = engine.run()
    assert ended.reason == "finished", ended.message
    assert engine.step == 3
    for group in groups:
        same = [torch.equal(old, p) for old, p in zip(before[group.name], group.params)]
        if group.name == spec.freeze:
            assert all(same), f"frozen {group.name} moved"
        else:
            assert not all(same), f"{group.name} did not train"


@pytest.mark.parametrize("arch", sorted(ZOO))
def test_lora_defaults_put_adapters_in_every_layer_group(arch: str, zoo: Callable[[str], Path]) -> None:
    """`--lora` with no settings: every layer group gets adapters (peft's targets, cockpit's where peft
    has none, every linear layer otherwise), the head trains whole, and the relative update reads
    the change of each adapted weight (GPT-2's transposed Conv1D included)."""
    pytest.importorskip("peft")
    loaded, said = apply_lora(load_model(str(zoo(arch)), "binary", ["neg", "pos"]), LoraSpec())
    layers = [g for g in loaded.groups if ".layer." in f".{g.name}" or g.name.startswith("layers.shared")]
    assert layers and all(g.adapted and g.params and g.fixed for g in layers), said
    head = next(g for g in loaded.groups if g.name == "head")
    assert head.params and not head.fixed and not head.adapted
    assert all(not g.params for g in loaded.groups if g not in layers and g is not head)

    norms = GroupNorms(loaded.groups, torch.device("cpu"))
    norms.before_update()
    with torch.no_grad():
        for group in layers:
            for adapted in group.adapted:
                adapted.up.add_(0.01)
    ratio = norms.update_norms()[: len(loaded.groups)]
    by_name = dict(zip((g.name for g in loaded.groups), ratio.tolist()))
    assert all(0 < by_name[g.name] < 1 for g in layers), by_name
    assert by_name["head"] == 0 and by_name["embeddings"] == 0


def test_the_grammar_speaks_stacks(zoo: Callable[[str], Path]) -> None:
    """`encoder`, `decoder`, `encoder.layer.0-1`, and a ratio taken per stack."""
    model = T.AutoModelForSequenceClassification.from_pretrained(zoo("t5"), num_labels=2)
    names = [g.name for g in layer_groups(model)]
    assert expand_groups("encoder", names) == ["encoder.layer.0", "encoder.layer.1", "encoder.final_norm"]
    assert expand_groups("decoder.layer.0-1", names) == ["decoder.layer.0", "decoder.layer.1"]
    assert expand_groups("0.5", names) == ["embeddings", "encoder.layer.0", "decoder.layer.0"]
    assert "head" not in expand_groups("all", names)
    with pytest.raises(CockpitError, match=r"unknown layer group 'layer\.0'.*or a whole stack: encoder, decoder"):
        expand_groups("layer.0", names)


def test_albert_says_what_a_ratio_did(zoo: Callable[[str], Path], tmp_path: Path) -> None:
    model = T.AutoModelForSequenceClassification.from_pretrained(zoo("albert"), num_labels=2)
    names = [g.name for g in layer_groups(model)]
    assert expand_groups("0.5", names) == ["embeddings"]
    assert "layers.shared" in ratio_note("0.5", names) and "cannot split" in ratio_note("0.5", names)
    engine = tiny_engine(SAMPLES / "sentiment.parquet", tmp_path / "run", zoo("albert"), freeze="0.5")
    assert engine.frozen == {"embeddings"}
    said = [n.message for n in engine.prepared.notices if n.kind == "freeze"]
    assert said == [f"--freeze {ratio_note('0.5', names)}"]
    assert (
        ratio_note(
            "0.5",
            [
                g.name
                for g in layer_groups(T.AutoModelForSequenceClassification.from_pretrained(zoo("bert"), num_labels=2))
            ],
        )
        == ""
    )


def test_a_tokenizer_larger_than_the_embeddings_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Item 5 of #22: ModernBERT's `Padding_idx must be within num_embeddings` traceback, said first."""
    tokenizer = wordpiece_tokenizer()
    for name, pad in (("pad", len(tokenizer) - 1), ("vocab", 0)):
        folder = tmp_path / name
        T.BertModel(T.BertConfig(**SIZE, vocab_size=100, pad_token_id=0)).save_pretrained(folder)
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(pad)
        tokenizer.save_pretrained(folder)
        rc = main(
            [
                "train",
                str(SAMPLES / "sentiment.parquet"),
                "--model",
                str(folder),
                "--out",
                str(tmp_path / name / "run"),
                "--headless",
            ]
        )
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert rc == 2 and len(lines) == 1, lines
        sizes = (
            f"pad id is {pad}, but the model's embedding matrix has 100 rows"
            if name == "pad"
            else (f"tokenizer has {len(tokenizer)} tokens, but the model's embedding matrix has 100 rows")
        )
        assert sizes in lines[0], lines[0]
