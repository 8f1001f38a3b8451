"""The words of every alarm: what it says happened (message) and what to do (advice).

Kept apart from the rules so that the rules read as conditions and the prose can be read, and
reworded, in one place. Each function takes the numbers its rule measured and returns text; none
of them decides anything.
"""

from __future__ import annotations

import math
from typing import Any

from cockpit.diagnostics.base import finite, plural
from cockpit.diagnostics.judgements import LOSS_WINDOW

# ---------------------------------------------------------------------------------------------
# Setup: the head and the labels
# ---------------------------------------------------------------------------------------------

HEAD_IS_REGRESSION = (
    "the head is set up for regression (one number per output, mean squared error), not for classification"
)


def head_output_count(outputs: int, labels: int) -> str:
    text = f"the head has {outputs} output(s) but the data has {labels} labels"
    if outputs == 1:
        text += "; with one output, picking the top class always gives the first class"
    return text


def head_classifies_a_score(problem: str, outputs: Any) -> str:
    """Seed 003 the other way round: a classification head trained on a score."""
    return (
        f"the targets are scores (regression), but the head is set up for {problem} with {outputs} output(s): "
        "it would learn classes, not a number"
    )


def head_softmax_for_multilabel(problem: str) -> str:
    return (
        f"rows carry several labels each, but the head is set up for {problem}: softmax makes "
        "the labels compete, so at most one can be predicted"
    )


HEAD_SIGMOID_FOR_SINGLE_LABEL = (
    "each row has exactly one label, but the head scores every label on its own (sigmoid), "
    "so a row can get no label or several"
)


def head_mismatch(problems: list[str]) -> str:
    return "The classification head does not fit the labels: " + "; ".join(problems) + "."


def head_mismatch_advice(labels: Any, expected: str) -> str:
    return (
        f"Build the head for this data: num_labels={labels}, problem_type='{expected}' "
        "(with transformers: AutoModelForSequenceClassification.from_pretrained(..., "
        f"num_labels={labels}, problem_type='{expected}', ignore_mismatched_sizes=True)). "
        "Do not rely on the checkpoint's default head size: it differs between models "
        "(gpt2 has 2 outputs, gpt2-large 1)."
    )


def label_format(read: str, notice_message: str, task: str) -> str:
    return (
        f"The labels were read as {read} ({notice_message}), but the run trains a {task} "
        "classifier: the loss and the predictions answer another question than the labels ask."
    )


LABEL_FORMAT_ADVICE = (
    "Say how the labels column is meant: several labels per row as a list of names or a 0/1 list "
    "per row (multi-label), one class per row as one name or one class number; or name the "
    "columns with --label-columns. Then start the run again."
)

# ---------------------------------------------------------------------------------------------
# Evaluation: collapse and thresholds
# ---------------------------------------------------------------------------------------------


def collapsed_to_one_class(top: int, total: int, share: float, label: str, true_share: float, evals: int) -> str:
    return (
        f"Predictions collapsed to one class: {top} of {total} evaluation rows ({share:.1%}) are "
        f"predicted '{label}', though only {true_share:.1%} of them are '{label}' "
        f"({evals} evaluations in a row)."
    )


def at_majority_share(accuracy: float, majority: float, evals: int, majority_label: str) -> str:
    return (
        f"Accuracy {accuracy:.4f} has sat at the majority-class share {majority:.4f} for "
        f"{evals} evaluations: the model does no better than always predicting "
        f"'{majority_label}'."
    )


def all_negative(rows: int, evals: int, before: float, now: float) -> str:
    return (
        f"Every label is predicted negative for all {rows} evaluation rows, "
        f"{evals} evaluations in a row, while the training loss still falls "
        f"({before:.3g} to {now:.3g}): the model learns that 'no' is the safest answer for "
        "each label."
    )


COLLAPSE_CLEARED = "Predictions are spread over the classes again."


def regression_collapsed(
    center: float, spread: float, target_spread: float, evals: int, mse: Any, constant: Any
) -> str:
    compared = (
        f" (eval MSE {mse:.4g}; the constant predictor's, the training mean, is {constant:.4g})"
        if finite(mse) and finite(constant)
        else ""
    )
    return (
        f"Every prediction is about {center:.4g} (they spread {spread:.3g}), while the targets spread "
        f"{target_spread:.3g}, for {evals} evaluations in a row: the model predicts one value for every row"
        f"{compared}."
    )


REGRESSION_COLLAPSE_CLEARED = "Predictions spread with the targets again."


def target_scale(mean: float, std: float) -> str:
    return (
        f"The regression targets are on a large scale (mean {mean:.4g}, std {std:.4g}): a new head starts "
        f"near 0 and moves a little per step, so the loss (about {mean**2 + std**2:.3g} at first) stays huge "
        "for a long time and its gradients swamp the encoder's."
    )


def target_scale_advice(mean: float, std: float) -> str:
    return (
        "Train on normalised targets: run with `--normalize-targets` (the head learns "
        f"z = (y - {mean:.4g}) / {std:.4g}; predictions, metrics and the saved model stay in your units), or "
        f"divide the targets by a round number such as {_round_scale(std):g}."
    )


def _round_scale(std: float) -> float:
    return float(10 ** max(0, round(math.log10(max(std, 1.0)))))


def collapse_advice(task: str, active: set[str]) -> str:
    """`active`: the alarm kinds raised now; the advice points only to those (a run whose thresholds
    alarm never fired was told to "see the thresholds alarm")."""
    if task == "regression":
        return (
            "A regression head that predicts one value everywhere has not learned from the texts yet. Check the "
            "targets' scale (the scale alarm, if it is up), raise the learning rate or train longer, and look "
            "at the pinned examples: their predicted values should move toward their targets."
        )
    if task == "multilabel":
        thresholds = (
            "the thresholds alarm lists the labels that gain, and `t` keeps them in the saved model"
            if "thresholds" in active
            else "the evaluation panel's `best thr` column shows each label's best one; `t` keeps them"
        )
        return (
            "Each label is rare, so answering 'no' everywhere already gives a low loss. Try a lower "
            f"decision threshold ({thresholds}), weigh positive labels up (`--pos-weight auto`, or the "
            "`pos_weight=auto` command), train the head longer or with a higher learning rate, and watch "
            "whether the pinned examples' probabilities for their true labels rise at all."
        )
    head = (
        "Fix the head first: the head alarm says what does not fit the labels. Then: "
        if "head_mismatch" in active
        else ""
    )
    return head + (
        "Lower the learning rate (too high a rate pushes every row to one class), balance the classes "
        "(class weights or resampling), and look at the pinned examples' probabilities."
    )


def thresholds_beat_half(listed: dict[str, dict[str, float]], total: int, shown_at_most: int) -> str:
    shown = "; ".join(
        f"{label}: {v['threshold']:.2f} (F1 {v['f1_at_half']:.2f} at 0.5, {v['f1']:.2f} at best)"
        for label, v in list(listed.items())[:shown_at_most]
    )
    more = f" and {len(listed) - shown_at_most} more" if len(listed) > shown_at_most else ""
    return (
        f"For {len(listed)} of {total} labels a decision threshold other than 0.5 gives a clearly "
        f"better F1 on the evaluation split, two evaluations in a row: {shown}{more}."
    )


def never_predicted(named: list[str], true: dict[str, int], metrics: dict[str, float], listed: int) -> str:
    shown = ", ".join(f"'{label}' (0 of its {true[label]} rows)" for label in named[:listed])
    more = f" and {len(named) - listed} more" if len(named) > listed else ""
    scores = ", ".join(
        f"{name.replace('_', '-')} {metrics[name]:.3g}"
        for name in ("accuracy", "micro_f1", "macro_f1")
        if name in metrics
    )
    subject = "This class is" if len(named) == 1 else "These classes are"
    return (
        f"{subject} never predicted, two evaluations in a row: {shown}{more}. The other classes carry "
        f"the scores ({scores}); its F1 is 0."
    )


def never_predicted_advice(task: str) -> str:
    weigh = ", or weigh positive labels up (`--pos-weight auto`)" if task == "multilabel" else ""
    return (
        "The model has not learned to tell these rows apart; they are often the rarest in training. "
        f"Add labelled rows of them{weigh}; check that their rows are labelled as you expect "
        "(`e` lists the training rows with their labels). The evaluation panel shows each class's F1 "
        "and how often it is predicted against how often it is true."
    )


def predicted_again(named: list[str]) -> str:
    return f"{plural(named)}: predicted again."


THRESHOLDS_ADVICE = (
    "Review them in the evaluation panel (`best thr`) and save them with the model (`t`, or the "
    "`thresholds=save` command; they go into the model config), so that inference uses them "
    "instead of 0.5. They are tuned on the "
    "evaluation split: with few evaluation rows, trust thresholds that hold over several "
    "evaluations."
)
THRESHOLDS_CLEARED = "A threshold of 0.5 now serves every label about as well."

# ---------------------------------------------------------------------------------------------
# Pinned rows: predictions against the training loss
# ---------------------------------------------------------------------------------------------


def predictions_disagree(train: float, pinned: float, ratio: float, updates: int) -> str:
    return (
        f"The training loss is low ({train:.3g}, smoothed), but the pinned training rows, "
        f"predicted the way inference does (eval mode), have loss {pinned:.3g}: {ratio:.0f}x "
        f"higher, for {updates} pin updates in a row. The inference path does not see what "
        "the training loss sees."
    )


PREDICTIONS_AGREE = "Pinned predictions agree with the training loss again."


def predictions_disagree_advice(evidence: dict[str, Any]) -> str:
    on, off = evidence.get("prob_on_targets"), evidence.get("prob_off_targets")
    if on is not None and off is not None and on - off < 0.1:
        first = (
            f"The predictions hardly tell targets apart (mean probability {on:.2f} on true labels, "
            f"{off:.2f} on the others): the model that predicts does not behave like the one that "
            "trains. "
        )
    elif on is not None:
        first = (
            f"The predictions lean the right way (mean probability {on:.2f} on true labels"
            + (f" vs {off:.2f}" if off is not None else "")
            + ") but not far enough: at a 0.5 threshold they still miss. "
        )
    else:
        first = ""
    return first + (
        "Likely causes: layers that act differently in train and eval mode (dropout; batch-norm "
        "statistics in frozen layers); predicting with other weights, another checkpoint or another "
        "tokenizer than the one trained; a training loss computed against other targets (label order, "
        "label format); a decision threshold that does not suit the labels (the evaluation panel's `best thr`)."
    )


# ---------------------------------------------------------------------------------------------
# Layers that do not learn
# ---------------------------------------------------------------------------------------------


def not_learning(stalled: list[str], groups: dict[str, dict[str, Any]], body: float | None, floor: float) -> str:
    return f"{plural(stalled)}: trainable but not learning. " + " ".join(
        _stall_sentence(name, groups[name], body, floor) for name in stalled
    )


def learning_again(groups: list[str]) -> str:
    return f"{plural(groups)}: learning again (or frozen)."


def _stall_sentence(name: str, group: dict[str, Any], body: float | None, floor: float) -> str:
    steps = group["steps"]
    if group["reason"] == "zero_gradient":
        return f"{name}: its gradient was exactly zero for {steps} steps."
    if group["reason"] == "no_update":
        return (
            f"{name}: for {steps} steps each update moved its weights by less than {floor:g} of "
            f"their size (last {group['update_ratio']:.1e}, gradient norm {group['grad_norm']:.1e})."
        )
    return (
        f"{name}: the head moved {group['update_ratio']:.1e} of its weights per step for {steps} steps, "
        f"over 100x less than the rest of the model ({body:.1e})."
    )


def not_learning_advice(reasons: set[str]) -> str:
    parts = []
    if "zero_gradient" in reasons:
        parts.append(
            "A zero gradient means the loss does not reach these parameters: either an activation "
            "above them saturated (tanh or sigmoid stuck at +-1, typically after too high a learning "
            "rate: lower it and restart from a checkpoint before the jump), or the layer's output is "
            "not used in the forward pass (detached, replaced by another module), or its parameters "
            "were set to requires_grad=False outside cockpit."
        )
    if reasons & {"no_update", "head_lags"}:
        parts.append(
            "Check the learning rate this group gets (a parameter group with lr 0, or a schedule stuck "
            "at 0), that its parameters are in the optimizer at all, and whether its gradients are tiny "
            "(then give the head a higher learning rate)."
        )
    parts.append("If you meant it to stay fixed, freeze it (`freeze=GROUP`) so that it shows as frozen.")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# The training loss: noise, divergence
# ---------------------------------------------------------------------------------------------


def noisy_loss(noise: float, drop: float, batch: int, micro: int, accum: int) -> str:
    trend = (
        f"more than the curve fell over the last {LOSS_WINDOW} steps ({drop:.3g})"
        if drop > 0
        else (f"while the curve did not fall over the last {LOSS_WINDOW} steps (it rose by {-drop:.3g})")
    )
    return (
        f"The training loss is noisy: single steps scatter by {noise:.3g} (standard "
        f"deviation) around the smoothed curve, {trend}. Effective batch: {batch} ({micro} per "
        f"forward pass x {accum} accumulated)."
    )


# The schedule itself has brought the lr this far below its peak: lowering it by hand adds little.
LR_ALREADY_LOWERED = 0.5


def noisy_loss_advice(batch: int, accum: int, lr: float, peak_lr: float | None) -> str:
    """`lr=` sets the schedule's peak; the lr now is the peak times the schedule. Suggest halving the
    peak (which halves the lr now) only while the schedule has not already lowered it by half: a real
    run was told `lr=5e-06` while its lr was 1e-5 and decaying to 0."""
    first = (
        f"Each update sees only {batch} examples, so its loss and its gradient are noisy. See more "
        f"examples per update: `--grad-accum {accum * 4}` gives an effective batch of {batch * 4} "
        "(the noise shrinks with the square root of the batch: 4x the batch halves it)."
    )
    peak = peak_lr if peak_lr and peak_lr > 0 else lr
    if lr > LR_ALREADY_LOWERED * peak:
        shown = f"now {lr:.2g}" + (f", peak {peak:.2g}" if peak != lr else "")
        lower = (
            f" Or halve the learning rate (`lr={peak / 2:.2g}` sets the schedule's peak; {shown}) so that "
            "each noisy step moves the weights less."
        )
    else:
        lower = f" The schedule is already lowering the learning rate (now {lr:.2g}, peak {peak:.2g})."
    return first + lower + " If evaluation metrics still improve, the noise is only on the chart."


def noise_only_on_chart(task: str, metric: float | None) -> str:
    name = "micro-F1" if task == "multilabel" else "accuracy"
    shown = f" ({name} {metric:.3g})" if metric is not None else ""
    return f"Evaluation is good and holding{shown}: the loss's noise is only on the chart."


NOISE_CLEARED = "The training loss is steady enough to read its trend."


def non_finite(step: int, what: str, value: float, groups: list[str]) -> str:
    return (
        f"Step {step}: the {what} is {value} (not a finite number). The update was skipped, "
        "so the weights are as they were before this step; the run pauses (headless: stops) so "
        "that you can change course." + (f" Gradients not finite in: {plural(groups)}." if groups else "")
    )


def non_finite_advice(lr: float) -> str:
    return (
        f"Lower the learning rate (e.g. `lr={lr / 10:.2g}`, now {lr:.2g}), keep "
        "gradients clipped (`--max-grad-norm`, 1.0 by default), and train in fp32 if mixed precision is on "
        "(`--precision fp32`; fp16 overflows "
        "above 65504). If the loss was rising before this step, the learning rate is the first "
        "suspect."
    )


def finite_again(steps: int) -> str:
    return f"Loss and gradients finite again for {steps} steps."


def loss_rising(start: float, now: float, above_constant: bool) -> str:
    return (
        f"The training loss is rising: {start:.3g} to {now:.3g} (smoothed) over the last "
        f"{LOSS_WINDOW} steps, up {(now - start) / start:.0%}"
        + (", above the loss of a constant guess" if above_constant else "")
        + ". Training is moving away from a solution."
    )


def loss_rising_advice(lr: float) -> str:
    return (
        f"Lower the learning rate (`lr={lr / 3:.2g}`, now {lr:.2g}), keep gradients clipped "
        "(`--max-grad-norm`, 1.0 by default), or use a longer warmup (`--warmup-ratio`). If you just "
        "unfroze layers, their fresh gradients may need a lower learning rate."
    )


LOSS_STOPPED_RISING = "The training loss has stopped rising."


def loss_exploded(step: int, loss: float, reference: float, above: int, window: int, factor: float) -> str:
    return (
        f"The training loss exploded: {loss:.3g} at step {step}, {loss / reference:.0f}x the loss of an "
        f"untrained model ({reference:.3g}); {above} of the last {window} steps were above "
        f"{factor:g}x. Training is diverging."
    )


def loss_exploded_advice(lr: float) -> str:
    return (
        f"Stop and restart with a lower learning rate (`--lr {lr / 10:.2g}`, now {lr:.2g}), a warmup "
        "(`--warmup-ratio 0.1`) and gradient clipping (`--max-grad-norm 1.0`)."
    )
