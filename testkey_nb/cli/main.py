"""The `testkey-nb` command. Each sub-command's body lives in the module that owns the job;
this file only wires them up and keeps imports lazy so that start-up stays cheap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from testkey_nb.report.keyreport import KeyJob, KeyReportResult

app = typer.Typer(
    name="testkey-nb",
    help="Read-only evidence about LLM-provider API keys, rendered as offline HTML reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"testkey-nb {version('testkey-nb')}")
        raise typer.Exit()


@app.callback()
def _startup(
    ctx: typer.Context,
    retention: float = typer.Option(
        300.0, "--retention", envvar="TESTKEY_NB_RETENTION", help="seconds raw data may live (default 300)"
    ),
    _version: bool = typer.Option(
        False, "--version", is_eager=True, expose_value=False, callback=_print_version, help="print the version"
    ),
) -> None:
    """Sweep raw data older than the retention window at every start."""
    import math

    from testkey_nb.report.retention import default_raw_root, sweep_raw

    if not (math.isfinite(retention) and retention > 0):
        _fail(f"--retention must be a positive number of seconds, got {retention!r}")

    sweep_raw(default_raw_root(), retention)
    ctx.obj = {"retention": retention}


def _retention(ctx: typer.Context) -> float:
    return float((ctx.obj or {}).get("retention", 300.0))


# --- sub-commands are registered below, one line each -------------------------------------------
from testkey_nb.cli.emulator import emulator as _emulator  # noqa: E402

app.command("emulator")(_emulator)

from testkey_nb.cli.billing import billing as _billing  # noqa: E402

app.command("billing")(_billing)

from testkey_nb.cli.history import history as _history  # noqa: E402
from testkey_nb.cli.history import watch as _watch  # noqa: E402

app.command("history")(_history)
app.command("watch")(_watch)

from testkey_nb.cli.compare import compare as _compare  # noqa: E402

app.command("compare")(_compare)


_ROUTE_HELP = "global or china: with --claim, the provider's official hosts on that route"
_MAX_IN_FLIGHT_HELP = "at most N requests in flight at once (politeness cap; lower it for a small tier)"
_LENS_HELP = "the question answered: inventory-fit (default), onboarding-readiness or commercial-launch"


def _lens(value: str) -> str:
    from testkey_nb.check.lenses import LensError, check_lens

    try:
        return check_lens(value)
    except LensError as exc:
        _fail(f"--lens: {exc}")
        raise
_CREDITS_HELP = "USD left on the account, as you know it, where the provider shows no balance (runway rests on it)"
_PAYMENT_HELP = "how the account pays once its money is gone: card or none (none: the deactivation date is given)"


def _payment_method(value: str | None) -> str | None:
    if value is not None and value not in ("card", "none"):
        _fail(f"--payment-method must be card or none, got {value!r}")
    return value


@app.command("probe")
def probe(
    key_refs: list[str] = typer.Argument(
        ..., metavar="KEY_REF...", help="env:NAME or file:PATH (never the key itself); several with --brief"
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="inference base URL, e.g. https://inference.baseten.co/v1"
    ),
    management_url: str | None = typer.Option(
        None, "--management-url", help="management base URL, e.g. https://api.baseten.co/v1"
    ),
    claim: str | None = typer.Option(None, "--claim", help="the provider the key is claimed to be for"),
    route: str | None = typer.Option(None, "--route", help=_ROUTE_HELP),
    allow_billable: bool = typer.Option(False, "--allow-billable", help="allow one 1-token completion (costs money)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    timeout: float = typer.Option(10.0, "--timeout", help="seconds per request"),
    deadline: float = typer.Option(60.0, "--deadline", help="seconds for the whole probe"),
    label: str | None = typer.Option(None, "--label", help="a name for the key (default: a fingerprint label)"),
    max_model_checks: int = typer.Option(
        16, "--max-model-checks", min=1, help="refused-by-design calls for the permission matrix (one per model)"
    ),
    allow_http: bool = typer.Option(False, "--allow-http", help="allow plain http to a host that is not loopback"),
    max_in_flight: int = typer.Option(16, "--max-in-flight", min=1, help=_MAX_IN_FLIGHT_HELP),
    lens: str = typer.Option("inventory-fit", "--lens", help=_LENS_HELP),
    credits_remaining: float | None = typer.Option(None, "--credits-remaining", min=0, help=_CREDITS_HELP),
    payment_method: str | None = typer.Option(None, "--payment-method", metavar="card|none", help=_PAYMENT_HELP),
    brief: bool = typer.Option(False, "--brief", help="one line per key: label, verdict, provider, status, action"),
) -> None:
    """Probe keys read-only: real provider, metrics, capabilities, verdict and actions.

    The verdict comes first and again on the last line. With --brief, one line per key.
    """
    import json

    from testkey_nb.check.result import CheckError, CheckOptions
    from testkey_nb.check.run import check_key
    from testkey_nb.secrets import KeyRefError

    if len(key_refs) > 1 and not brief and not as_json:
        _fail("give one KEY_REF, or several with --brief or --json")
    if len(key_refs) > 1 and label:
        _fail("--label names one key: give one KEY_REF")
    options = CheckOptions(
        base_url=base_url, management_url=management_url, claim=claim, route=route, allow_billable=allow_billable,
        timeout_s=timeout, deadline_s=deadline, label=label, max_model_checks=max_model_checks, allow_http=allow_http,
        max_in_flight=max_in_flight, lens=_lens(lens), credits_remaining=credits_remaining,
        payment_method=_payment_method(payment_method),
    )  # fmt: skip
    from testkey_nb.cli.progress import on_terminal, probe_progress

    worst = 0
    for key_ref in key_refs:
        try:
            with probe_progress(enabled=on_terminal() and not as_json and not brief) as transport:
                result = check_key(key_ref, options, transport=transport)
        except (KeyRefError, CheckError) as exc:
            if len(key_refs) == 1:
                _fail(cli_words(str(exc)))
            typer.echo(f"{key_ref}  error: {cli_words(str(exc))}", err=True)
            worst = max(worst, 2)
            continue
        problem = _unreachable(result)
        if problem and len(key_refs) == 1 and not brief:
            _fail(problem, code=3)
        if as_json:
            typer.echo(json.dumps(result.to_json(), ensure_ascii=False, default=str))
        elif brief:
            import shutil

            from testkey_nb.cli.console import brief_line

            typer.echo(brief_line(result, width=shutil.get_terminal_size((80, 24)).columns))
        else:
            from testkey_nb.cli.console import print_check

            print_check(result)
        if problem:
            worst = max(worst, 3)
            if brief:
                typer.echo(f"testkey-nb: error: {problem}", err=True)
    if worst:
        raise typer.Exit(worst)


def _unreachable(result: object) -> str | None:
    """Why the probe reached nothing usable at the base URL: no answer at all, or 404 to every inference
    request (a base URL without its version, ``/v1``), with the hint; None when the host answered."""
    from testkey_nb.check.result import KeyCheck

    assert isinstance(result, KeyCheck)
    if not any(o.status is not None for o in result.observations):
        first = next((o for o in result.observations if o.detail), None)
        return f"could not reach {result.targets.inference}: {first.detail if first else 'no answer'}"
    inference = [o for o in result.observations if o.role == "inference" and o.status is not None]
    if inference and all(o.status == 404 for o in inference) and result.profile.status.code == "unknown":
        detail = result.profile.status.detail.replace("try the base URL ", "try --base-url ")
        return f"every request to {result.targets.inference} answered 404: {detail}"
    return None


@app.command("render")
def render(
    ctx: typer.Context,
    key_ref: str | None = typer.Argument(None, metavar="[KEY_REF]", help="env:NAME or file:PATH"),
    out: Path = typer.Option(Path("reports"), "--out", help="folder for the HTML reports"),
    claim: str | None = typer.Option(None, "--claim", help="the provider the key is claimed to be for"),
    route: str | None = typer.Option(None, "--route", help=_ROUTE_HELP),
    base_url: str | None = typer.Option(None, "--base-url", help="inference base URL"),
    management_url: str | None = typer.Option(None, "--management-url", help="management base URL"),
    allow_billable: bool = typer.Option(False, "--allow-billable", help="allow one 1-token completion"),
    label: str | None = typer.Option(None, "--label", help="a name for the key's report"),
    with_billing: bool = typer.Option(False, "--with-billing", help="also render the key's billing notebook"),
    scenario: Path | None = typer.Option(None, "--scenario", help="FILE.toml or a bundled scenario"),
    keys_file: Path | None = typer.Option(None, "--keys-file", help="TOML file of key references"),
    keys_env: Path | None = typer.Option(None, "--keys-env", help="dotenv file of keys (mode 0600)"),
    jobs: int | None = typer.Option(None, "--jobs", help="parallel renders (default: about one per core)"),
    force: bool = typer.Option(False, "--force", help="render every report, also of keys whose facts did not change"),
    dask: str | None = typer.Option(None, "--dask", help="render on a Dask cluster at ADDRESS"),
    allow_insecure_cluster: bool = typer.Option(False, "--allow-insecure-cluster", help="allow tcp:// off loopback"),
    max_in_flight: int = typer.Option(16, "--max-in-flight", min=1, help=_MAX_IN_FLIGHT_HELP),
    pdf: bool = typer.Option(False, "--pdf", help="also print each report to <stem>.pdf beside it (headless Chromium)"),
    open_report: bool = typer.Option(False, "--open", help="open the report in a browser when it is written"),
    history_path: Path | None = typer.Option(None, "--history", help="history database (default <out>/.history)"),
    no_history: bool = typer.Option(False, "--no-history", help="record no snapshot of this render"),
    alert_balance: float | None = typer.Option(None, "--alert-balance", help="flag keys with less than USD left"),
    alert_limit_percent: float | None = typer.Option(
        None, "--alert-limit-percent", help="flag keys at N % of a limit, or whose limit fell N %"
    ),
    lens: str = typer.Option("inventory-fit", "--lens", help=_LENS_HELP),
    credits_remaining: float | None = typer.Option(None, "--credits-remaining", min=0, help=_CREDITS_HELP),
    payment_method: str | None = typer.Option(None, "--payment-method", metavar="card|none", help=_PAYMENT_HELP),
) -> None:
    """Render self-contained HTML reports: one key, a scenario, or many keys.

    With --keys-file/--keys-env, --claim, --base-url, --management-url, --credits-remaining and
    --payment-method are defaults for the keys that set none; --allow-billable is set per key in the keys
    file (allow_billable = true), and --label, --allow-billable, --with-billing and --open (one key's
    flags) are refused.
    """
    from testkey_nb.cli.history import render_one_with_history, settings_from_flags

    retention = _retention(ctx)
    lens = _lens(lens)
    payment_method = _payment_method(payment_method)
    history = settings_from_flags(history_path, no_history, alert_balance, alert_limit_percent)
    if (keys_file or keys_env) and route:
        _fail("--route cannot be used with --keys-file/--keys-env: give each key its --base-url in the keys file")
    if keys_file or keys_env:
        ignored = _one_key_flags(label=label, allow_billable=allow_billable, with_billing=with_billing,
                                 open_report=open_report)  # fmt: skip
        if ignored:
            _fail(f"{ignored} cannot be used with --keys-file/--keys-env (it applies to one key): {_PER_KEY[ignored]}")
    if pdf:  # before anything runs: a missing Chromium is one line, not a batch of reports without PDFs
        from testkey_nb.report.pdf import PdfError, require_chromium

        try:
            require_chromium()
        except PdfError as exc:
            _fail(str(exc))
    if keys_file or keys_env:
        if key_ref or scenario:
            _fail("give KEY_REF, --scenario, or --keys-file/--keys-env, not several")
        from testkey_nb.batch import render_many

        raise typer.Exit(
            render_many(
                keys_file=keys_file, keys_env=keys_env, out=out, jobs=jobs, force=force, dask=dask,
                allow_insecure_cluster=allow_insecure_cluster, retention_s=retention, claim=claim,
                base_url=base_url, management_url=management_url, max_in_flight=max_in_flight, pdf=pdf,
                history=history, lens=lens, credits_remaining=credits_remaining, payment_method=payment_method,
            )
        )  # fmt: skip
    from testkey_nb.cli.progress import status
    from testkey_nb.report.keyreport import KeyJob, render_key, render_key_billing, render_scenario
    from testkey_nb.secrets import KeyRefError, resolve

    if scenario is not None:
        if key_ref:
            _fail("give KEY_REF or --scenario, not both")
        from testkey_nb._files import scenario_path

        scenario = scenario_path(scenario)
        with status(f"rendering scenario {scenario.name}"):
            result = render_scenario(scenario, out, label=label, retention_s=retention)
        _report_result(result, pdf=pdf, open_report=open_report)
        return
    if not key_ref:
        _fail("give KEY_REF (env:NAME or file:PATH), --scenario FILE or --keys-file FILE")
    try:
        secret = resolve(key_ref)
    except KeyRefError as exc:
        _fail(str(exc))
    if label is not None:
        from testkey_nb.batch.keysfile import check_label

        problem = check_label(label)
        if problem:
            _fail(f"--label: {problem}")
    job = KeyJob(label=label or secret.label, ref=key_ref, claim=claim, route=route, base_url=base_url,
                 management_url=management_url, allow_billable=allow_billable, max_in_flight=max_in_flight,
                 lens=lens, credits_remaining=credits_remaining, payment_method=payment_method)  # fmt: skip

    def with_history(render: Callable[[KeyJob], KeyReportResult]) -> KeyReportResult:
        result, row = render_one_with_history(job, out, history, render)
        if row is not None and row.get("changes"):
            from testkey_nb._labels import plural

            typer.echo(f"{result.label}: {plural(len(row['changes']), 'change')} since the last check "
                       f"(testkey-nb history {result.label} --out {out})")  # fmt: skip
        return result

    if not with_billing:
        with status(f"rendering {job.label or key_ref}: probing and executing the notebook"):
            result = with_history(lambda j: render_key(j, out, secret=secret, retention_s=retention))
        _report_result(result, pdf=pdf, open_report=open_report)
        return
    from testkey_nb.report.kernels import KernelPool
    from testkey_nb.report.retention import default_raw_root

    # two renders: the billing notebook's kernel warms up while the key report renders
    with KernelPool(1, default_raw_root(), retention_s=retention, total=2) as pool:
        with status(f"rendering {job.label or key_ref}: probing and executing the notebook"):
            result = with_history(lambda j: render_key(j, out, secret=secret, retention_s=retention, pool=pool))
        if result.ok:
            _report_result(result, exit_on_error=False, pdf=pdf, open_report=open_report)
            provider = str((result.summary or {}).get("provider") or "unknown")
            if not _bills_deployments(provider):
                from testkey_nb.report.billing_view import no_deployment_billing

                _fail(f"{result.label}: no billing report: {no_deployment_billing(provider)}", code=1)
            with status(f"rendering {result.label}: the billing notebook"):
                result = render_key_billing(job, out, secret=secret, retention_s=retention, pool=pool)
    _report_result(result, pdf=pdf, open_report=open_report)


def _bills_deployments(provider: str) -> bool:
    """Whether ``provider``'s data declares per-minute deployment billing (what the billing notebook meters)."""
    from testkey_nb.identify.loader import load_registry

    registry = load_registry()
    spec = registry.get(provider) if provider in registry.ids() else None
    return spec is not None and spec.billing is not None and spec.billing.metering == "deployment_minutes"


#: the render flags a batch of keys cannot honour, and what to do instead
_PER_KEY: dict[str, str] = {
    "--label": "name each key in the keys file (the [keys.NAME] table, or the dotenv variable)",
    "--allow-billable": "set allow_billable = true on the key in the --keys-file TOML",
    "--with-billing": "render the key's billing notebook with render KEY_REF --with-billing",
    "--open": "open the fleet index, index.html in the --out folder, once the batch is done",
}


def _one_key_flags(*, label: str | None, allow_billable: bool, with_billing: bool, open_report: bool) -> str | None:
    """The first flag given that only a one-key render honours, or None."""
    given = {"--label": label is not None, "--allow-billable": allow_billable, "--with-billing": with_billing,
             "--open": open_report}  # fmt: skip
    return next((flag for flag, on in given.items() if on), None)


def _report_result(
    result: KeyReportResult, exit_on_error: bool = True, pdf: bool = False, open_report: bool = False
) -> None:
    from testkey_nb._labels import label

    if result.ok:
        verdict = f" (verdict {label('verdict', result.summary['verdict'])})" if result.summary else ""
        typer.echo(f"{result.label}: {result.html}{verdict}")
        if pdf and result.html is not None:
            from testkey_nb.report.pdf import PdfError, print_pdfs

            try:
                for written in print_pdfs([result.html]):
                    typer.echo(f"{result.label}: {written}")
            except PdfError as exc:
                _fail(f"{result.label}: {exc}", code=1)
        if open_report and result.html:
            import webbrowser

            webbrowser.open(Path(result.html).resolve().as_uri())
        return
    if exit_on_error:
        _fail(f"{result.label}: {result.error}", code=1)


@app.command("demo")
def demo(
    ctx: typer.Context, out: Path = typer.Option(Path("reports"), "--out", help="folder for the demo reports")
) -> None:
    """Start the emulator, render reports for its demo keys and one billing scenario, print the paths."""
    from testkey_nb.cli.demo import run_demo

    raise typer.Exit(run_demo(out, retention_s=_retention(ctx)))


@app.command("lab")
def lab(
    keys_env: Path | None = typer.Option(None, "--keys-env", help="dotenv file of your keys (mode 0600)"),
    pass_env: list[str] = typer.Option([], "--pass-env", metavar="NAME", help="pass this shell variable's key"),
    emulator: bool | None = typer.Option(
        None, "--emulator/--no-emulator", help="add the emulator and its demo keys (default: when no key is given)"
    ),
    workspace: Path | None = typer.Option(None, "--workspace", help="your notebooks (default ./testkey-nb-lab/)"),
    no_browser: bool = typer.Option(False, "--no-browser", help="do not open a browser"),
    port: int = typer.Option(8888, "--port", help="JupyterLab port"),
) -> None:
    """JupyterLab with your keys (by reference) or the emulator's demo keys, and a kept workspace."""
    from testkey_nb.cli.lab import LabError, run_lab

    try:
        code = run_lab(keys_env=keys_env, pass_env=pass_env, emulator=emulator, workspace=workspace,
                       open_browser=not no_browser, port=port)  # fmt: skip
    except LabError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


#: Python argument (as the package's errors name it) -> the command-line flag that sets it
_FLAGS = {
    "base_url": "--base-url",
    "management_url": "--management-url",
    "claim": "--claim",
    "timeout_s": "--timeout",
    "deadline_s": "--deadline",
    "max_model_checks": "--max-model-checks",
    "max_in_flight": "--max-in-flight",
    "allow_http": "--allow-http",
    "allow_billable": "--allow-billable",
    "credits_remaining": "--credits-remaining",
    "payment_method": "--payment-method",
}


def cli_words(message: str) -> str:
    """An error from the Python API in the command line's words: ``base_url=URL`` -> ``--base-url URL``,
    ``allow_http=True`` -> ``--allow-http``, a bare ``max_in_flight`` -> ``--max-in-flight``."""
    import re

    def flag(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if value in ("True", None):
            return _FLAGS[name]
        return f"{_FLAGS[name]} {value}"

    names = "|".join(_FLAGS)
    return re.sub(rf"(?<![\w-])({names})(?:=(True|[A-Z]+))?(?![\w-])", flag, message)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"testkey-nb: error: {message}", err=True)
    raise typer.Exit(code)


def main() -> None:
    app()
