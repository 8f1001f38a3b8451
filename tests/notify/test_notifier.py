"""The notifier on its own: real deliveries to a real HTTP server on 127.0.0.1 and a real command,
the rate limit, failures journaled once, and a receiver that hangs holding up nobody but the worker."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from notify.receiver import receiver

from cockpit.contract.commands import CommandSyntaxError, SetNotify, parse_command
from cockpit.contract.events import Alarm, EvalResult, Notice, RunEnded, StepMetrics
from cockpit.notify.message import request_body, summary
from cockpit.notify.notifier import FAILED_KIND, Notifier


def alarm(step: int = 30, kind: str = "collapse", active: bool = True) -> Alarm:
    return Alarm(step=step, kind=kind, severity="error", message="every label is predicted negative", advice="a")


def step(n: int) -> StepMetrics:
    return StepMetrics(
        step=n, epoch=0.1, loss=0.5, lr=1e-5, samples_per_s=1.0, grad_norm=1.0, layers={}, micro_batch=8,
        effective_batch=8,
    )  # fmt: skip


def recorder_command(out: Path) -> str:
    """A real command that writes what it got (stdin, the summary variable, when) to `out`."""
    script = (
        "import json, os, sys, time; "
        f"open({str(out)!r}, 'a').write(json.dumps({{'at': time.time(), 'stdin': json.load(sys.stdin), "
        "'summary': os.environ['COCKPIT_SUMMARY'], 'kind': os.environ['COCKPIT_KIND']}) + '\\n')"
    )
    return f'{sys.executable} -c "{script}"'


def read_lines(path: Path, count: int, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.02)
    raise AssertionError(f"{path}: fewer than {count} lines after {timeout_s} s")


def test_an_alarm_reaches_the_url_and_the_command_with_the_event(tmp_path: Path) -> None:
    out = tmp_path / "got.jsonl"
    with receiver() as server:
        notifier = Notifier(command=recorder_command(out), url=server.url)
        raised = alarm()
        assert notifier(raised) == []  # nothing failed (yet): the stream gets nothing back
        posted = server.wait_for(1)[0]
        ran = read_lines(out, 1)[0]
        notifier.close()
    body = posted.json()
    assert body["kind"] == "alarm" and body["event"]["kind"] == "collapse" and body["event"]["step"] == 30
    assert body["text"] == body["content"] == summary(raised, "")
    assert posted.path == "/hook/secret-token" and posted.headers["Content-Type"] == "application/json"
    assert ran["stdin"] == body and ran["kind"] == "alarm" and "ALARM collapse at step 30" in ran["summary"]
    assert notifier.sent == 2 and notifier.failed == 0


def test_one_message_per_alarm_kind_per_interval_and_the_end_always(tmp_path: Path) -> None:
    now = [0.0]
    with receiver() as server:
        notifier = Notifier(url=server.url, every_s=600, clock=lambda: now[0])
        notifier(alarm(10))
        notifier(alarm(20))  # the same kind within 10 minutes: not told
        notifier(alarm(20, kind="diverging"))  # another kind: told
        notifier(alarm(21, active=False))  # a cleared alarm: not told
        notifier(EvalResult(step=22, epoch=1, loss=0.3, metrics={}, per_label_f1={}, predicted_distribution={},
                            true_distribution={}, baselines={}, rows=5))  # fmt: skip
        now[0] = 601.0
        notifier(alarm(40))  # told again after the interval
        notifier(RunEnded(step=45, reason="finished"))
        notifier(RunEnded(step=45, reason="finished"))  # ends are never limited
        notifier.close()
        got = [(r.json()["kind"], r.json()["event"]["step"]) for r in server.received]
    assert sorted(got) == sorted([("alarm", 10), ("alarm", 20), ("alarm", 40), ("end", 45), ("end", 45)])


def test_a_failing_target_is_journaled_once_and_training_events_carry_on(tmp_path: Path) -> None:
    with receiver(status=500) as server:
        notifier = Notifier(command="echo broken >&2; exit 3", url=server.url, every_s=0)
        # A local failure can come back with the very call that queued it: every call's return counts,
        # and a notice carries the step of the event it was returned with (so it is journaled in order).
        notices = [(n, 1) for n in notifier(alarm(1))] + [(n, 2) for n in notifier(alarm(2))]
        server.wait_for(2)
        deadline = time.monotonic() + 10
        while notifier.failed < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        notices += [(n, 3) for n in notifier(step(3))]
        assert notifier(step(4)) == []  # each target's failure is journaled once, not again
        notifier.close()
    assert notifier.failed == 4
    assert [n.kind for n, _ in notices] == [FAILED_KIND, FAILED_KIND]
    assert all(isinstance(n, Notice) and n.step == returned_at for n, returned_at in notices)
    said = " | ".join(n.message for n, _ in notices)
    assert "HTTP 500" in said and "exit status 3: broken" in said
    assert "secret-token" not in said  # a webhook's path is its password: never journaled


def test_a_receiver_that_hangs_holds_up_only_the_worker() -> None:
    """The training thread's call returns while the server still holds the request; the worker
    gives up at its timeout and says so once."""
    with receiver(hold=True) as server:
        notifier = Notifier(url=server.url, timeout_s=2.0)
        notifier(alarm(1))
        assert server.holding.wait(10)
        returned = [notifier(step(n)) for n in range(2, 50)]  # steps go on while the request hangs
        assert returned == [[]] * 48 and not server.release.is_set()
        deadline = time.monotonic() + 10
        while notifier.failed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        failures = notifier(step(50))
        server.release.set()
        notifier.close()
    assert len(failures) == 1 and "timed out" in failures[0].message


def test_notify_on_a_live_run_replaces_one_target_and_off_clears_both(tmp_path: Path) -> None:
    notifier = Notifier(command="true")
    assert notifier.set_target("https://hooks.slack.com/services/T0/B0/XYZ").startswith(
        "notifying command 'true' and https://hooks.slack.com/…"
    )
    assert notifier.targets.url == "https://hooks.slack.com/services/T0/B0/XYZ"
    assert notifier.set_target("off") == "notifications off" and not notifier.targets
    command = parse_command("notify=https://discord.com/api/webhooks/1/abc")
    assert command == SetNotify("https://discord.com/api/webhooks/1/abc")
    assert command.shown == "notify=https://discord.com/…" and command.text.endswith("/1/abc")
    for bad in ("notify=", "notify=https://", "notify=http:///x"):
        with pytest.raises(CommandSyntaxError):
            parse_command(bad)


def test_webhooks_get_the_shape_their_host_reads() -> None:
    event, line = alarm(), "cockpit r: ALARM collapse"
    slack, headers = request_body("https://hooks.slack.com/services/T/B/X", event, "r", line)
    assert json.loads(slack) == {"text": line} and headers["Content-Type"] == "application/json"
    discord, _ = request_body("https://discord.com/api/webhooks/1/abc", event, "r", line)
    assert json.loads(discord) == {"content": line}
    ntfy, headers = request_body("https://ntfy.sh/my-topic", event, "r", line)
    assert ntfy == line.encode() and headers["Title"] == "cockpit r" and headers["Tags"] == "warning"
    generic, _ = request_body("https://example.org/hook", event, "r", line)
    assert json.loads(generic)["event"]["kind"] == "collapse"
    nan = Alarm(step=1, kind="diverged", severity="error", message="m", advice="a", evidence={"loss": float("nan")})
    assert json.loads(request_body("https://example.org/h", nan, "r", "x")[0])["event"]["evidence"]["loss"] == "nan"
