"""Airflow 3 DAGs for otds-highspot: one task per stage, one extract task per tree.

``otds_highspot`` (daily) runs extract -> transform -> pull -> plan -> apply
for the DAG run's run id; ``otds_highspot_apply_run`` (manual) applies the
plan of a run id given as a parameter: the override plan a human published
with ``otds-highspot plan --from-run <blocked run> --allow op=N`` (a new run
id), after reviewing the blocked plan.

- Every task runs the otds-highspot CLI with the same --config and a --run-id
  (the logical date's ts_nodash, e.g. 20261125T023000, which starts with the
  date as run ids must). The CLI's stderr (its JSON log lines) is streamed
  into the task log line by line while it runs; its --json summary (the last
  stdout line) is the task's XCom.
- Retries happen ONLY on exit code 3 (transient: a service dropped, timed out
  or the apply circuit breaker opened). Every other non-zero code fails the
  task for good: 2 config, 4 source-health gate, 5 plan blocked, 6 apply had
  failed changes, 7 auth (credentials refused: a retry could lock the service
  account), 11 locked, 1 unexpected. Re-running a stage is safe; the recovery
  matrix in docs/operations.md names the command for each code.
- Every task has an execution_timeout; a timed-out CLI is terminated (SIGTERM:
  it releases its locks and exits 130) and the task fails like exit 3.
- Approval (params.require_approval, or apply.require_approval in the config)
  is a record in the run, written by ``otds-highspot plan approve --run-id R
  --sha256 H --by NAME``: the ``wait_for_approval`` sensor waits until
  ``plan show`` lists an approval of the plan's sha256, and apply runs with
  --plan-sha256 H. On Airflow 3.1+ an ApprovalOperator (human-in-the-loop,
  Browse -> Required Actions) asks first; its answer is recorded with ``plan
  approve --by <responder>`` so the CLI record stays the source of truth.
  When the config sets apply.require_approval, set params.require_approval
  too: apply refuses an unapproved plan (exit 2) either way.

Deploy: put the otds-highspot binary at OTDS_HIGHSPOT_BIN (default
/usr/local/bin/otds-highspot) and the config at OTDS_HIGHSPOT_CONFIG on the
workers; secrets come from the workers' environment or files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from datetime import datetime, timedelta

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.sdk import Param, PokeReturnValue, dag, get_current_context, task

try:  # Airflow 3.1+: human-in-the-loop approval in the UI
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except ImportError:  # older: approval only by `otds-highspot plan approve`
    ApprovalOperator = None

BIN = os.environ.get("OTDS_HIGHSPOT_BIN", "/usr/local/bin/otds-highspot")
CONFIG = os.environ.get("OTDS_HIGHSPOT_CONFIG", "/etc/otds-highspot/config.yaml")
TRANSIENT = 3  # the only exit code worth retrying (docs/operations.md)
AUTH = 7  # credentials or permission refused: never retried (lockouts)
TIMEOUT_EXTRACT = timedelta(hours=2)
TIMEOUT_STAGE = timedelta(hours=1)
TIMEOUT_APPLY = timedelta(hours=4)
TIMEOUT_SHORT = timedelta(minutes=10)
APPROVAL_WAIT = timedelta(hours=12)


def cli(*args: str, run_id: str | None = None) -> dict:
    """Run one otds-highspot command; return its --json summary.

    stderr is streamed into the task log as it comes. Exit 3 raises
    AirflowException (retried); any other failure raises AirflowFailException
    (not retried). A task timeout or kill terminates the CLI (SIGTERM), which
    releases its locks.
    """
    argv = [BIN, "--config", CONFIG, "--log-format", "json", "--json"]
    if run_id:
        argv += ["--run-id", run_id]
    argv += list(args)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)
    reader.start()  # stdout is read beside stderr, so neither pipe can fill up
    try:
        for line in proc.stderr:  # live: one log line at a time
            print(line, end="", flush=True)
        proc.wait()
        reader.join()
        out = "".join(stdout)
    except BaseException:  # timeout, kill, cancel: let the CLI clean up
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    lines = [l for l in out.splitlines() if l.strip()]
    try:
        summary = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        summary = {"raw": out}
    if proc.returncode == 0:
        return summary
    msg = f"{' '.join(args)} exited {proc.returncode}: {summary.get('error', '')}"
    if proc.returncode == AUTH:
        raise AirflowFailException(msg + " (fix the credentials; not retried)")
    if proc.returncode == TRANSIENT:
        raise AirflowException(msg)  # retried
    raise AirflowFailException(msg)  # a human must look


def approvals(run_id: str) -> tuple[str, list]:
    """The plan sha256 of run_id and the approval records naming it."""
    summary = cli("plan", "show", run_id=run_id)
    details = summary.get("details") or {}
    return summary.get("plan_sha256", ""), details.get("approvals") or []


default_args = {
    "owner": "identity",
    "retries": 3,
    "retry_delay": timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "execution_timeout": TIMEOUT_STAGE,
}


def approval_steps(run_id: str):
    """Tasks that end when the plan of run_id has an approval record.

    Returns (first task, sensor). With require_approval off, the sensor
    passes at once.
    """

    # none_failed: it also runs when the Airflow approval step was skipped
    # (approval not required) or rejected (then only a CLI record lets apply run).
    @task.sensor(poke_interval=300, timeout=APPROVAL_WAIT.total_seconds(), mode="reschedule", retries=0,
                 execution_timeout=None, trigger_rule="none_failed")
    def wait_for_approval(run_id: str) -> PokeReturnValue:
        if not get_current_context()["params"].get("require_approval"):
            return PokeReturnValue(is_done=True, xcom_value="")
        sha, records = approvals(run_id)
        print(f"plan {run_id} sha256 {sha}: {len(records)} approval record(s); approve with: "
              f"otds-highspot --run-id {run_id} plan approve --sha256 {sha} --by NAME")
        return PokeReturnValue(is_done=bool(records), xcom_value=sha)

    sensor = wait_for_approval(run_id)
    if ApprovalOperator is None:
        return sensor, sensor

    @task.short_circuit(execution_timeout=TIMEOUT_SHORT, ignore_downstream_trigger_rules=False)
    def approval_wanted() -> bool:
        return bool(get_current_context()["params"].get("require_approval"))

    ask = ApprovalOperator(
        task_id="approve_in_airflow",
        subject="otds-highspot: approve the plan of run {{ params.run_id or ts_nodash }}",
        body="Review plan.html (`otds-highspot --run-id {{ params.run_id or ts_nodash }} plan show --open`) before approving.",
        execution_timeout=APPROVAL_WAIT,
    )

    @task(execution_timeout=TIMEOUT_SHORT)
    def record_approval(run_id: str) -> dict:
        result = get_current_context()["ti"].xcom_pull(task_ids="approve_in_airflow") or {}
        who = result.get("responded_by_user") or result.get("responded_by") or {}
        by = who.get("name") or who.get("id") if isinstance(who, dict) else str(who)
        sha, _ = approvals(run_id)
        return cli("plan", "approve", "--sha256", sha, "--by", by or "airflow-hitl", "--comment", "approved in Airflow, human-in-the-loop", run_id=run_id)

    wanted = approval_wanted()
    recorded = record_approval(run_id)
    wanted >> ask >> recorded >> sensor
    return wanted, sensor


@dag(
    dag_id="otds_highspot",
    description="OTDS -> Highspot identity sync",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # the run lock refuses overlapping runs anyway (exit 11)
    default_args=default_args,
    params={"require_approval": Param(False, type="boolean"), "run_id": Param("", type="string")},
    tags=["identity", "highspot"],
)
def otds_highspot():
    run_id = "{{ ts_nodash }}"

    @task(execution_timeout=TIMEOUT_SHORT)
    def list_trees() -> list[str]:
        summary = cli("config", "validate")
        return summary.get("details", {}).get("trees", [])

    @task(execution_timeout=TIMEOUT_EXTRACT)
    def extract(tree: str, run_id: str) -> dict:
        return cli("extract", "--tree", tree, run_id=run_id)

    @task(trigger_rule="all_success")
    def transform(run_id: str) -> dict:
        return cli("transform", run_id=run_id)

    @task
    def pull(run_id: str) -> dict:
        return cli("pull", run_id=run_id)

    @task
    def plan(run_id: str) -> dict:
        return cli("plan", run_id=run_id)

    @task(execution_timeout=TIMEOUT_APPLY)
    def apply(run_id: str, approved_sha: str) -> dict:
        args = ["apply"]
        if approved_sha:
            args += ["--plan-sha256", approved_sha]
        return cli(*args, run_id=run_id)

    extracted = extract.partial(run_id=run_id).expand(tree=list_trees())
    planned = plan(run_id)
    extracted >> transform(run_id) >> pull(run_id) >> planned
    first, sensor = approval_steps(run_id)
    planned >> first
    sensor >> apply(run_id, sensor)


@dag(
    dag_id="otds_highspot_apply_run",
    description="Apply the plan of one run id (an override plan from plan --from-run ... --allow)",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    params={"run_id": Param("", type="string", minLength=8), "require_approval": Param(True, type="boolean")},
    tags=["identity", "highspot"],
)
def otds_highspot_apply_run():
    run_id = "{{ params.run_id }}"

    @task(execution_timeout=TIMEOUT_SHORT)
    def show(run_id: str) -> dict:
        return cli("plan", "show", run_id=run_id)

    @task(execution_timeout=TIMEOUT_APPLY)
    def apply(run_id: str, approved_sha: str) -> dict:
        args = ["apply"]
        if approved_sha:
            args += ["--plan-sha256", approved_sha]
        return cli(*args, run_id=run_id)

    shown = show(run_id)
    first, sensor = approval_steps(run_id)
    shown >> first
    sensor >> apply(run_id, sensor)


otds_highspot()
otds_highspot_apply_run()
