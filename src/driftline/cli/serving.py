"""Commands that use a model: `predict` a file, `serve` it over HTTP, `explain` records."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.text import Text

from driftline.cli.common import ROOT, app, console, reported
from driftline.config import load_params
from driftline.registry.store import CHAMPION, Registry
from driftline.serving.auth import TOKEN_VARIABLE, check_binding, is_loopback, resolve_host


@app.command(rich_help_panel="Models at work")
def predict(
    source: str = typer.Argument(..., help="CSV of records (the target column may be absent)"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write the rows and the model's answers: "
                                                            "probability, label (binary); label, probability, "
                                                            "probability_<class> (multiclass); prediction, lower, "
                                                            "upper (regression)"),
    model: str = typer.Option("champion", help="a version or an alias"),
    dask_address: str = typer.Option(None, "--dask", metavar="ADDRESS",
                                     help="score partitions on the Dask scheduler at ADDRESS (tcp://host:8786), "
                                          "or on a cluster of this machine's cores with `local`"),
    blocksize: str = typer.Option(None, help="with --dask: bytes of SOURCE per partition, such as 64MB "
                                             "(default: Dask's)"),
) -> None:
    """Score a CSV with the champion (read with the missing-value rule stored with the model).

    With --dask, the cluster's workers read SOURCE and write OUTPUT (give paths they can reach); the output
    has the same rows, order, columns and labels, and the numbers to float32 precision.
    """
    from driftline.registry.resolver import resolve_model
    from driftline.serving.scoring import dask_client, score_file, score_file_on_dask

    with reported(f"predict {source}"):
        predictor = resolve_model(load_params(), ROOT, model).predictor()
        if dask_address is None:
            rows = score_file(predictor, source, output)
        else:
            with dask_client(dask_address) as client:
                rows = score_file_on_dask(predictor, source, output, client, blocksize)
    console.print(f"wrote {rows} scored rows to {output}")


@app.command(rich_help_panel="Models at work")
def serve(
    port: int = typer.Option(3000, help="port to listen on"),
    host: str = typer.Option("127.0.0.1", help="address or host name to listen on (a name is resolved first); one "
                                               "other machines reach (0.0.0.0, ::, a LAN address) needs "
                                               f"{TOKEN_VARIABLE} or --insecure"),
    insecure: bool = typer.Option(False, "--insecure", help=f"serve beyond loopback without {TOKEN_VARIABLE}"),
    model: str = typer.Option("champion", help="a version or an alias"),
    log: bool = typer.Option(None, "--log/--no-log", help="log every scored record (default: serve.log_enabled)"),
) -> None:
    """Serve the champion's bento (POST /predict, POST /explain, GET /healthz, GET /metadata), on 127.0.0.1 unless
    --host says otherwise.

    Every scored record goes to the inference log (params.yaml serve.log_url, or DRIFTLINE_LOG_URL);
    GET /metadata/log counts its writes and failures, and rows the database refuses go to serve.dead_letter_path
    (`driftline log dead-letters`, `driftline log replay`). A body over serve.max_body_bytes is answered 413, a
    value the log could not store as scored 422. The service keeps the version it started with; /metadata says
    which one, and whether the registry's champion has moved since (restart to follow it). While a rollout runs
    (`driftline rollout status`), the champion is served with the candidate beside it, in shadow or canary; alone,
    with a warning, where the candidate's model cannot be found. With DRIFTLINE_API_TOKEN set, every route but
    the probes needs `Authorization: Bearer <token>`.
    """
    from driftline.registry.resolver import serving_bento
    from driftline.release.rollout import service_env
    from driftline.serving.log import DEAD_LETTERS_VARIABLE, dead_letter_path, log_url

    token = os.environ.get(TOKEN_VARIABLE)
    with reported(f"serve {model}"):
        address = resolve_host(host)  # BentoML binds addresses only
        check_binding(address, token, insecure)  # before anything is loaded: a refusal is immediate
        params = load_params()
        log_on = params.serve.log_enabled if log is None else log
        rollout, arms = service_env(Registry(ROOT / params.registry.dir), model, log_on)
        bento, entry = serving_bento(params, ROOT, model, rollout=bool(rollout["DRIFTLINE_ROLLOUT_MODE"]))
    env = os.environ | rollout | {
        "DRIFTLINE_REGISTRY": str((ROOT / params.registry.dir).resolve()),
        "DRIFTLINE_VERSION": entry["version"], "DRIFTLINE_MODEL_TAG": entry["model_tag"],
        "DRIFTLINE_LOG_URL": log_url(params.serve.log_url, ROOT) if log_on else "",
        DEAD_LETTERS_VARIABLE: str(dead_letter_path(params.serve.dead_letter_path, ROOT)),
        "DRIFTLINE_MAX_BODY_BYTES": str(params.serve.max_body_bytes),
        "DRIFTLINE_MAX_TEXT_CHARS": str(params.serve.max_text_chars),
        "DRIFTLINE_TIMEOUT_S": str(params.serve.timeout_s)}
    if rollout["DRIFTLINE_ROLLOUT_DEGRADED"]:  # Text: the reason's brackets are not rich markup
        console.print(Text.assemble(("warning: ", "yellow"), rollout["DRIFTLINE_ROLLOUT_DEGRADED"],
                                    ": the champion answers alone (`driftline rollout status`)"))
    guard = "token required" if token else "no token" + (" (--insecure)" if not is_loopback(address) else "")
    where = f"{address}:{port}" + (f" ({host})" if host != address else "")
    console.print(f"serving champion {entry['version']}{arms} on {where}, {guard}"
                  if model == CHAMPION else f"serving {model} ({entry['version']}){arms} on {where}, {guard}")
    command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", address, "--port", str(port)]
    os.execve(sys.executable, command, env)  # BentoML takes this process over: a SIGTERM reaches it, not a parent


@app.command(rich_help_panel="Models at work")
def explain(
    source: str = typer.Argument(..., help="CSV of records (the target column may be absent)"),
    output: Path = typer.Option(..., "-o", "--output", help="where to write the rows, the answer, the output "
                                                            "explained, its base value and one shap_<column> "
                                                            "attribution per column"),
    model: str = typer.Option("champion", help="a version or an alias"),
) -> None:
    """SHAP attributions per raw column of each record's output (the calibrated logit; a multiclass model's
    predicted class's; a regression's prediction through its link), as the service's POST /explain gives them."""
    import pandas as pd

    from driftline.core.data import columns_of, read_csv
    from driftline.core.explain import Explainer
    from driftline.registry.resolver import resolve_model

    with reported(f"explain {source}"):
        resolved = resolve_model(load_params(), ROOT, model)
        predictor, model_dir = resolved.predictor(), resolved.path
        frame = read_csv(source, predictor.schema, predictor.na_values)
        rows = Explainer.load(predictor, model_dir).explain_columns(columns_of(frame, predictor.schema.features))
        explained = pd.DataFrame([{k: v for k, v in r.items() if k != "attributions"}
                                  | {f"shap_{c}": a for c, a in r["attributions"].items()} for r in rows])
        output.parent.mkdir(parents=True, exist_ok=True)
        frame.reset_index(drop=True).join(explained).to_csv(output, index=False)
    console.print(f"wrote {len(explained)} explained rows to {output}")
