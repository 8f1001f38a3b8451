"""LoRA: fine-tune adapters, with the cockpit's per-layer view and control of them (`--lora`).

Built on the `peft` library, an optional extra (`pip install "cockpit[lora]"`). `--lora` wraps the
loaded classifier with LoRA adapters on the attention projections (peft's defaults per
architecture, or `targets=`) and trains the classification head fully (`modules_to_save`), so a
head that does not fit the labels still learns them. The layer groups stay the base model's
(cockpit.training.model.layer_groups): each holds its layer's adapters, and freezing one freezes
its adapters only, exactly; the base weights are never trained unless a group's full fine-tuning
is asked for by name (`full=layer.11`).

The run saves the adapter (`model/adapter_model.safetensors`, PEFT's format, with the tokenizer
and `head_config.json`, the config with the head fitted to the labels); `--merge-lora` also saves
`model-merged/`, the adapter added into the base weights: a plain model folder. An adapter folder
is also a `--model`, to continue from.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cockpit.contract.errors import CockpitError
from cockpit.rundir.layout import ADAPTER_CONFIG_NAME, BASE_WEIGHTS_NAME, HEAD_CONFIG_NAME
from cockpit.training.model import LoadedModel, layer_groups, load_model

LORA_EXTRA = 'pip install "cockpit[lora]"'
# Query and value projections of the encoders peft 0.21 lists no LoRA targets for.
EXTRA_TARGETS = {
    "albert": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "funnel": ["q_head", "v_head"],
    "longformer": ["query", "value"],
    "modernbert": ["Wqkv"],  # query, key and value in one projection
    "mpnet": ["q", "v"],
}


@dataclass(frozen=True)
class LoraSpec:
    """`--lora r=16,alpha=32,dropout=0.05,targets=query,value`; what is left out takes these defaults
    (peft's own example settings for sequence classification)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    targets: tuple[str, ...] = ()  # empty: the architecture's default

    @property
    def text(self) -> str:
        targets = f",targets={','.join(self.targets)}" if self.targets else ""
        return f"r={self.rank},alpha={self.alpha:g},dropout={self.dropout:g}{targets}"


def parse_lora(text: str) -> LoraSpec:
    """`r=16,alpha=32,targets=query,value` (a value without `=` continues the targets); `` or `on`: the defaults."""
    flag = f"--lora {text}"
    values: dict[str, Any] = {}
    key = ""
    if text.strip() in ("", "on"):
        return LoraSpec()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        if not sep and key == "targets":
            values["targets"] = (*values["targets"], part)
            continue
        key = name.strip().lower()
        try:
            if key == "r":
                values["rank"] = int(value)
            elif key == "alpha":
                values["alpha"] = float(value)
            elif key == "dropout":
                values["dropout"] = float(value)
            elif key == "targets":
                values["targets"] = (value.strip(),) if value.strip() else ()
            else:
                raise CockpitError(f"{flag}: unknown setting {part!r}; use r=, alpha=, dropout=, targets=")
        except ValueError:
            raise CockpitError(f"{flag}: {part!r} is not a number") from None
    spec = LoraSpec(**values)
    if spec.rank < 1 or not spec.alpha > 0 or not 0 <= spec.dropout < 1:
        raise CockpitError(f"{flag}: r must be at least 1, alpha above 0, dropout in [0, 1)")
    return spec


def require_peft() -> None:
    try:
        import peft  # noqa: F401
    except ImportError:
        raise CockpitError(f"LoRA needs the peft library: {LORA_EXTRA}") from None


def is_lora(model: nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def default_targets(model_type: str) -> tuple[list[str], str]:
    """(the module names LoRA adapts by default, where that choice comes from)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    if model_type in PEFT_TARGETS:
        return list(PEFT_TARGETS[model_type]), "peft's default"
    if model_type in EXTRA_TARGETS:
        return list(EXTRA_TARGETS[model_type]), "cockpit's default (peft has none)"
    return [], "every linear layer of the base model (neither peft nor cockpit has a default)"


def head_modules(model: nn.Module) -> list[str]:
    """The classification head's top modules: what the task class adds around its base model."""
    prefix = getattr(model, "base_model_prefix", "")
    children = model.named_children()
    return [name for name, child in children if name != prefix and next(child.parameters(), None) is not None]


def apply_lora(loaded: LoadedModel, spec: LoraSpec) -> tuple[LoadedModel, str]:
    """Wrap the loaded classifier with LoRA adapters; (the LoRA model, what was adapted, in words)."""
    require_peft()
    from peft import LoraConfig, get_peft_model

    model = loaded.model
    prefix = getattr(model, "base_model_prefix", "")
    linear = sorted(
        {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n.startswith(prefix + ".") and _is_linear(m)}
    )
    targets, origin = (
        (list(spec.targets), "--lora targets") if spec.targets else default_targets(model.config.model_type)
    )
    targets = targets or linear
    missing = [t for t in targets if t not in linear]
    if missing:
        raise CockpitError(
            f"--lora targets={','.join(targets)}: no layer named {', '.join(missing)} in this "
            f"{model.config.model_type} model; its linear layers: {', '.join(linear)}"
        )
    # Adapters inside the base model only: the head trains whole (modules_to_save), never through an adapter.
    pattern = rf"{re.escape(prefix)}\..*\.(?:{'|'.join(map(re.escape, targets))})"
    # GPT-2's Conv1D keeps its weight as [in, out]: peft must know (it says so in a warning otherwise)
    conv = any(type(m).__name__ == "Conv1D" and n.rsplit(".", 1)[-1] in targets for n, m in model.named_modules())
    head = head_modules(model)
    config = LoraConfig(
        task_type="SEQ_CLS",
        fan_in_fan_out=conv,
        r=spec.rank,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=pattern,
        modules_to_save=list(head),  # a copy: peft's SEQ_CLS extends it in place with 'classifier', 'score'
    )
    with warnings.catch_warnings():  # peft calls a transformers method v5 deprecates (is_gradient_checkpointing)
        warnings.simplefilter("ignore", FutureWarning)
        wrapped = get_peft_model(model, config)
    said = (
        f"LoRA r={spec.rank}, alpha={spec.alpha:g}, dropout={spec.dropout:g} on {', '.join(targets)} ({origin}); "
        f"the head ({', '.join(head)}) trains fully; base weights stay as loaded"
    )
    return dataclasses.replace(loaded, model=wrapped, groups=layer_groups(wrapped)), said


def _is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"  # GPT-2's linear layers


def adapter_spec(path: str | Path) -> LoraSpec:
    """The LoRA settings an adapter folder was trained with."""
    config = _adapter_config(Path(path))
    targets = config.get("target_modules") or ()
    if isinstance(targets, str):  # cockpit's own: a pattern ending in (?:query|value)
        targets = re.findall(r"[\w]+", targets.rsplit("(?:", 1)[-1])
    return LoraSpec(int(config["r"]), float(config["lora_alpha"]), float(config["lora_dropout"]), tuple(targets))


def _adapter_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / ADAPTER_CONFIG_NAME).read_text(encoding="utf-8"))
        if config.get("peft_type") != "LORA":
            raise CockpitError(f"--model {folder}: a {config.get('peft_type')} adapter; cockpit trains LoRA adapters")
        return config
    except (OSError, ValueError) as exc:
        raise CockpitError(f"--model {folder}: {ADAPTER_CONFIG_NAME} cannot be read ({exc})") from None


def load_adapter(path: str, task: str, label_names: list[str], trust_remote_code: bool = False) -> LoadedModel:
    """An adapter folder as a model to go on training: its base model, loaded and fitted to the labels
    as any `--model` is, then the adapter's weights (and its head) on top, trainable."""
    require_peft()
    from peft import PeftModel

    folder = Path(path).expanduser()
    base = _adapter_config(folder).get("base_model_name_or_path")
    if not base:
        raise CockpitError(f"--model {path}: {ADAPTER_CONFIG_NAME} names no base model (base_model_name_or_path)")
    tokenizer_from = str(folder) if (folder / "tokenizer_config.json").exists() else None
    loaded = load_model(base, task, label_names, trust_remote_code, tokenizer_from=tokenizer_from)
    try:
        with warnings.catch_warnings():  # as in apply_lora
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(loaded.model, str(folder), is_trainable=True)
    except (RuntimeError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if "size mismatch" in str(exc):
            reason = f"its head does not fit the data's {len(label_names)} labels"
        raise CockpitError(f"--model {path}: the adapter cannot be loaded ({reason})") from None
    trained_base = folder / BASE_WEIGHTS_NAME
    if trained_base.exists():
        unexpected = model.load_state_dict(load_file(str(trained_base)), strict=False).unexpected_keys
        if unexpected:
            raise CockpitError(f"--model {path}: {BASE_WEIGHTS_NAME} holds weights this model lacks: {unexpected[0]}")
    if not any(".modules_to_save." in name for name, _ in model.named_parameters()):
        raise CockpitError(
            f"--model {path}: the adapter does not train the classification head (no modules_to_save); "
            "cockpit goes on from adapters that do"
        )
    head = dataclasses.replace(loaded.head, reinitialised=False, reinitialised_params=[], reason="")
    return dataclasses.replace(loaded, model=model, groups=layer_groups(model), head=head, source=path)


def save_model_files(model: nn.Module, tokenizer: Any, folder: Path, trained_base: Iterable[nn.Parameter] = ()) -> None:
    """A model as a run saves it (the final model, each checkpoint): save_pretrained, or a LoRA model's adapter."""
    if is_lora(model):
        save_adapter(model, tokenizer, folder, trained_base)
    else:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)


def save_adapter(model: nn.Module, tokenizer: Any, target: Path, trained_base: Iterable[nn.Parameter] = ()) -> None:
    """The adapter as PEFT saves it, the tokenizer, the head's config, and base weights trained by `full=`."""
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    model.get_base_model().config.to_json_file(target / HEAD_CONFIG_NAME)
    wanted = {id(p) for p in trained_base}
    if wanted:
        state = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if id(p) in wanted}
        save_file(state, str(target / BASE_WEIGHTS_NAME))


def save_merged(model: nn.Module, tokenizer: Any, target: Path) -> None:
    """The adapter added into the base weights, saved as a plain model folder (pipeline() loads it).

    Built as a state dict beside the model (each adapted weight W + s·B·A, the head's trained copy
    under its own name), so the run's model and its base weights stay as they are."""
    inner = model.get_base_model()
    adapter = model.active_adapter
    state = {}
    for name, tensor in inner.state_dict().items():
        if ".lora_" in name or ".original_module." in name:
            continue
        state[name.replace(f".modules_to_save.{adapter}.", ".").replace(".base_layer.", ".")] = tensor
    with torch.no_grad():
        for name, module in inner.named_modules():
            if hasattr(module, "get_delta_weight") and adapter in getattr(module, "lora_A", {}):
                key = f"{name}.weight"
                state[key] = state[key] + module.get_delta_weight(adapter).to(state[key].dtype)
    inner.save_pretrained(target, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(target)
