"""The ``promote:`` rule of ``variants:`` on live servers (docs/variants.md, "Promotion by
rule"): it promotes a challenger the labels prove better, leaves one that is not, and
holds a manual promotion back until it has its minimum of labels.

The champion answers "yes" to everything; the challenger "yes" below 5 and "no" from 5
on (tests/integration/test_variants.py).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from scipy import stats

from tests.conftest import ProjectFactory, live_server
from tests.integration.test_variants import (
    both_ready,
    challenger,
    champion,
    eventually,
    read_log,
)

RULE = "promote: {{metric: accuracy, better_by: 0.1, min_labels: {least}, confidence: 0.99}}"


def truth(n: int) -> str:
    """The label of row ``n`` (x = n % 10): the challenger's answer."""
    return "yes" if n % 10 < 5 else "no"


def predict_and_label(
    client: httpx.Client, rows: range, label: str | None = None, *, shadow: bool = False
) -> None:
    """Predictions of ``rows`` (x = n % 10) and their labels: the truth, or ``label`` for
    all. In shadow mode the copies are scored before the labels are sent (a label for a
    prediction the challenger has not made yet grades only the champion)."""
    shadowed = client.get("/-/arms").json()["shadowed"]
    for n in rows:
        answer = client.post("/predict", json={"key": f"k{n}", "x": n % 10})
        assert answer.status_code == 200, answer.text
    if shadow:
        eventually(lambda: client.get("/-/arms").json()["shadowed"] >= shadowed + len(rows))
    labels = [{"id": f"k{n}", "label": label or truth(n)} for n in rows]
    graded = client.post("/feedback", json=labels)
    assert graded.status_code == 200, graded.text


def test_the_rule_promotes_a_challenger_the_labels_prove_better(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    rule = RULE.format(least=100)
    project = champion(make_project, tmp_path, f"variants: {{challenger: ../v2, {rule}}}")
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        early = client.post("/-/promote")
        predict_and_label(client, range(80), shadow=True)
        waiting = client.get("/-/arms").json()["rule"]
        for start in range(80, 200, 40):
            predict_and_label(client, range(start, start + 40), shadow=True)
        eventually(lambda: client.get("/-/arms").json()["promotions"] == 1)
        report = client.get("/-/arms").json()
        after = client.post("/predict", json={"key": "after", "x": 7})
    assert early.status_code == 409
    assert early.json()["error"]["message"].startswith(
        "the promote rule needs 100 labelled pairs: the champion has 0 and the challenger 0"
    )
    assert waiting["labels"] == {"champion": 80, "challenger": 80}
    assert waiting["waiting"].endswith("the champion has 80 and the challenger 80")
    assert report["arms"][0]["version"] == "v2"  # the challenger is the champion now
    assert report["rule"]["labels"] == {"champion": 0, "challenger": 0}  # a new pair
    assert after.json()["label"] == "no"
    (audit,) = [r for r in read_log(tmp_path) if r["kind"] == "promotion"]
    assert audit["who"] == "the promote rule (variants.promote)"
    assert audit["champion"]["version"] == "v2"
    judgement = audit["judgement"]
    assert judgement["promote"] is True and judgement["verdict"] == "challenger better"
    assert judgement["labels"]["champion"] == judgement["labels"]["challenger"] >= 100
    # The champion is right on half the rows, the challenger on all: McNemar's b and c.
    assert judgement["figures"] == {"champion": 0.5, "challenger": 1.0}
    test = judgement["test"]
    assert test["b"] == 0 and test["c"] == judgement["labels"]["champion"] / 2
    assert test["p_value"] == stats.binomtest(0, test["c"], 0.5).pvalue


def test_the_rule_keeps_a_champion_the_labels_prefer(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    challenger(make_project)
    rule = RULE.format(least=20)
    variants = f"variants: {{challenger: ../v2, mode: canary, share: 50%, key: id, {rule}}}"
    project = champion(make_project, tmp_path, variants)
    with live_server(project) as server, server.client() as client:
        both_ready(client)
        predict_and_label(client, range(200), "yes")  # the champion is always right
        eventually(lambda: client.get("/-/arms").json()["rule"]["last"] is not None)
        report = client.get("/-/arms").json()
        by_hand = client.post("/-/promote")  # the rule has its labels: a person may
    last = report["rule"]["last"]
    assert report["promotions"] == 0 and report["arms"][0]["version"] == "v1"
    assert last["verdict"] == "champion better" and last["promote"] is False
    table = last["test"]["table"]
    assert last["test"]["p_value"] == stats.fisher_exact(table).pvalue
    assert sum(table[0]) == last["labels"]["champion"] >= 20
    assert by_hand.status_code == 200
    assert [r["who"] for r in read_log(tmp_path) if r["kind"] == "promotion"] == ["anonymous"]
