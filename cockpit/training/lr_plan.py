"""The learning-rate plan of `cockpit train`: linear warm-up, then linear decay to zero.

As HF's `get_linear_schedule_with_warmup`, plus what a resume needs: the plan rides in the
scheduler's state (`lr_plan`), so every checkpoint says which plan its lr came from, and a run
resumed with another total (`--max-steps`) goes on from the lr it had, with no jump.
"""

from __future__ import annotations

import math
from typing import Any

from cockpit.contract.events import Notice

# Where a run resumed with another total joins its schedule: (step, factor there, warm-up end or None).
Join = tuple[int, float, int | None]


class LinearPlan:
    """The lr factor per step for `total_steps` with `warmup_steps` of warm-up.

    Give `LambdaLR` the bound method `factor`, not the object: LambdaLR saves and restores the
    `__dict__` of a callable object with its state, which would put a resumed run's old total back.
    """

    def __init__(self, total_steps: int, warmup_steps: int) -> None:
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.joined: Join | None = None  # None: the plan as planned

    def factor(self, step: int) -> float:
        """Linear warm-up, then linear decay to zero; after a join, the rest of the warm-up as it
        was, then a linear decay from the joined factor to zero at the new total."""
        joined = self.joined
        if joined is not None and step >= joined[0]:
            start, factor, warmup = joined
            if warmup is not None:
                if step < warmup:
                    return (step + 1) / (warmup + 1)
                start, factor = warmup, 1.0
            return max(0.0, factor * (self.total_steps - step) / max(1, self.total_steps - start))
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))

    def state(self) -> dict[str, Any]:
        """What the scheduler's state carries (`scheduler.lr_plan`), so a checkpoint records its plan."""
        return {"total_steps": self.total_steps, "warmup_steps": self.warmup_steps, "joined": self.joined}

    def resume(self, plan: Any, saved_factor: float | None, step: int, peak_lr: float) -> Notice | None:
        """Join the plan a checkpoint recorded (`plan`, None for older checkpoints) at `step`.

        The same total: the plan goes on as it was (bit-exact). Another total (--max-steps): the
        schedule goes on from where it stood (its lr over its peak, as saved), down to 0 at the new
        total; a run that had already decayed to 0 (extended past its end) has no lr to go on from,
        and the extra steps follow the plan for the new total. Either is said in the returned notice.
        """
        plan = plan if isinstance(plan, dict) else None
        if plan is not None and plan.get("total_steps") == self.total_steps:
            joined = plan.get("joined")
            self.joined = tuple(joined) if joined is not None else None  # type: ignore[assignment]
            return None
        if saved_factor is None or step >= self.total_steps:
            return None
        if plan is None and math.isclose(saved_factor, self.factor(step), rel_tol=1e-9):
            return None
        if saved_factor > 1e-12:
            # still warming up at `step`? (known from the recorded plan; an older checkpoint: decay on)
            joined = (plan or {}).get("joined")
            warmup = joined[2] if joined is not None else (plan or {}).get("warmup_steps")
            warming = isinstance(warmup, int) and step < warmup < self.total_steps
            self.joined = (step, saved_factor, warmup if warming else None)
            message = (
                f"lr schedule for the new total of {self.total_steps} steps: on from {peak_lr * saved_factor:.3g} at "
                f"step {step + 1}" + (f", up to the peak {peak_lr:.3g} at step {warmup + 1}," if warming else "")
                + f" down to 0 at step {self.total_steps} (no jump)"
            )  # fmt: skip
        else:
            self.joined = None
            message = (
                f"the run's lr had decayed to 0 by step {step} (its old end): the {self.total_steps - step} "
                f"extra steps follow a schedule planned for {self.total_steps} steps, from lr "
                f"{peak_lr * self.factor(step):.3g} at step {step + 1} down to 0 at step {self.total_steps}"
            )
        evidence = {"step": step, "lr": peak_lr * self.factor(step), "total_steps": self.total_steps}
        return Notice(step=step, kind="resume", message=message, evidence=evidence)
