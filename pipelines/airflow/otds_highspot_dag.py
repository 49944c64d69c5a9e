"""Airflow DAG for otds-highspot: one task per stage, one extract task per tree.

- Every task runs the otds-highspot CLI with the same --config and the DAG
  run's --run-id (the logical date's ts_nodash, e.g. 20261125T023000, which
  starts with the date as run ids must).
- Retries happen ONLY on exit code 3 (transient: a service dropped, timed out
  or the apply circuit breaker opened). Every other non-zero code fails the
  task for good: 2 config, 4 source-health gate, 5 plan blocked, 6 apply had
  failed changes, 7 auth (credentials refused: a retry could lock the service
  account), 11 locked, 1 unexpected. Re-running a stage is safe; the recovery
  matrix in docs/operations.md names the command for each code.
- Each task pushes the CLI's --json summary to XCom.
- Optional manual approval between plan and apply (params.require_approval):
  set the Airflow Variable ``otds_highspot_approved_sha256`` to the plan's
  sha256 (shown in the plan task's XCom and in plan.md) to let apply run;
  apply then refuses any other plan (--plan-sha256).

Deploy: put the otds-highspot binary at OTDS_HIGHSPOT_BIN (default
/usr/local/bin/otds-highspot) and the config at OTDS_HIGHSPOT_CONFIG on the
workers; secrets come from the workers' environment or files.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta

from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.decorators import task
from airflow.models import Variable
from airflow.sensors.python import PythonSensor

BIN = os.environ.get("OTDS_HIGHSPOT_BIN", "/usr/local/bin/otds-highspot")
CONFIG = os.environ.get("OTDS_HIGHSPOT_CONFIG", "/etc/otds-highspot/config.yaml")
TRANSIENT = 3  # the only exit code worth retrying (docs/operations.md)
AUTH = 7  # credentials or permission refused: never retried (lockouts)


def cli(*args: str, run_id: str | None = None) -> dict:
    """Run one otds-highspot command; return its --json summary.

    Exit 3 raises AirflowException (retried); any other failure raises
    AirflowFailException (not retried).
    """
    argv = [BIN, "--config", CONFIG, "--log-format", "json", "--json"]
    if run_id:
        argv += ["--run-id", run_id]
    argv += list(args)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    print(proc.stderr)
    try:
        summary = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        summary = {"raw": proc.stdout}
    if proc.returncode == 0:
        return summary
    msg = f"{' '.join(args)} exited {proc.returncode}: {summary.get('error', '')}"
    if proc.returncode == AUTH:
        raise AirflowFailException(msg + " (fix the credentials; not retried)")
    if proc.returncode == TRANSIENT:
        raise AirflowException(msg)  # retried
    raise AirflowFailException(msg)  # a human must look


default_args = {
    "owner": "identity",
    "retries": 3,
    "retry_delay": timedelta(minutes=10),
    "retry_exponential_backoff": True,
}

with DAG(
    dag_id="otds_highspot",
    description="OTDS -> Highspot identity sync",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # the run lock refuses overlapping runs anyway (exit 11)
    default_args=default_args,
    params={"require_approval": False},
    tags=["identity", "highspot"],
) as dag:
    @task
    def list_trees() -> list[str]:
        summary = cli("config", "validate")
        return summary.get("details", {}).get("trees", [])

    @task
    def extract(tree: str, **context) -> dict:
        return cli("extract", "--tree", tree, run_id=context["ts_nodash"])

    @task(trigger_rule="all_success")
    def transform(**context) -> dict:
        return cli("transform", run_id=context["ts_nodash"])

    @task
    def pull(**context) -> dict:
        return cli("pull", run_id=context["ts_nodash"])

    @task
    def plan(**context) -> dict:
        return cli("plan", run_id=context["ts_nodash"])

    def _approved(**context) -> bool:
        if not context["params"].get("require_approval"):
            return True
        summary = context["ti"].xcom_pull(task_ids="plan") or {}
        shas = [s.get("details", {}).get("plan_sha256") for s in summary.get("stages", [])]
        return Variable.get("otds_highspot_approved_sha256", default_var="") in shas

    approval = PythonSensor(
        task_id="approval",
        python_callable=_approved,
        mode="reschedule",
        poke_interval=300,
        timeout=60 * 60 * 12,
        retries=0,
    )

    @task
    def apply(**context) -> dict:
        args = ["apply"]
        if context["params"].get("require_approval"):
            args += ["--plan-sha256", Variable.get("otds_highspot_approved_sha256")]
        return cli(*args, run_id=context["ts_nodash"])

    trees = list_trees()
    extracted = extract.expand(tree=trees)
    t = transform()
    p = pull()
    pl = plan()
    a = apply()
    extracted >> t >> p >> pl >> approval >> a
