"""The dashboard and the rules file on disk: what ``nervosum monitoring`` writes, and
``nervosum deploy --monitoring`` beside its manifests (in a ``monitoring/`` subfolder,
so ``kubectl apply -f DIR`` never reads a file that is not a Kubernetes object).

Both are written with sorted keys, so the same project writes the same bytes and a
change shows as a small diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nervosum.deploy.alerts import rule_groups, rule_object
from nervosum.deploy.dashboard import dashboard
from nervosum.deploy.watch import Watched

DASHBOARD = "dashboard.json"
RULES = "alerts.rules.yaml"
SUBFOLDER = "monitoring"  # under a deploy's -o folder
LINE = 10_000  # one PromQL expression a line, as written


def write_monitoring(watched: Watched, folder: Path) -> list[Path]:
    """Write the dashboard and the rules file into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    board, rules = folder / DASHBOARD, folder / RULES
    board.write_text(json.dumps(dashboard(watched), indent=2, sort_keys=True) + "\n", "utf-8")
    header = f"# Prometheus alert rules nervosum wrote for {watched.model}: rule_files: [...]\n"
    rules.write_text(
        header + yaml.safe_dump(rule_groups(watched), sort_keys=True, width=LINE), "utf-8"
    )
    return [board, rules]


CRD = "monitoring.coreos.com/v1/PrometheusRule"


def write_monitored_chart(watched: Watched, values: dict[str, Any], chart: Path) -> list[Path]:
    """``--target helm --monitoring``: the PrometheusRule as one more (literal) template of
    the chart, rendered only where the cluster knows the kind (a cluster without the
    Prometheus Operator would refuse the whole release), the dashboard and rules file in
    its ``monitoring/`` folder (helm reads ``templates/`` only)."""
    template = chart / "templates" / "prometheusrule.yaml"
    body = yaml.safe_dump(rule_object(watched, values), width=LINE)
    guard = f'{{{{- if .Capabilities.APIVersions.Has "{CRD}" }}}}\n'
    template.write_text(guard + body + "{{- end }}\n", "utf-8")
    return [template, *write_monitoring(watched, chart / SUBFOLDER)]
