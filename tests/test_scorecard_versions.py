"""Published versions (immutable, content-hashed), resolve, preview on workspace data, the scorecard CLI,
and both templates scoring the synthetic generator's data end to end."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pytest
from typer.testing import CliRunner

from crmscore.cli.main import app
from crmscore.errors import UnknownName
from crmscore.scorecards import versions
from crmscore.scorecards.compile import applies, score
from crmscore.scorecards.templates import TEMPLATES
from crmscore.scorecards.validate import read_scorecard
from crmscore.store.appdb import AuditEvent
from crmscore.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "scorecards"


@pytest.fixture(scope="module")
def synth_tables() -> dict[str, object]:
    from crmscore import synth

    return synth.generate(300, seed=7)


@pytest.fixture
def loaded(workspace: Workspace, synth_tables: dict[str, object]) -> Workspace:
    """A workspace whose warehouse holds the synthetic tables (inserted directly: the importer is tested
    elsewhere)."""
    wh = workspace.warehouse
    for name, table in synth_tables.items():
        if wh.has_table(name):
            target = wh.table(name).schema()
            wh.con.insert(name, ibis.memtable(table).select(*[ibis._[c].cast(t) for c, t in target.items()]))
    return workspace


def test_publish_is_immutable_and_versioned(workspace: Workspace, tmp_path: Path) -> None:
    text = TEMPLATES["b2c-retail"].read_text(encoding="utf-8")
    first = versions.publish(workspace, read_scorecard("b2c-retail"), text, published_by="ana")
    again = versions.publish(workspace, read_scorecard("b2c-retail"), text)
    assert (first.version, first.created, again.version, again.created) == (1, True, 1, False)
    changed_file = tmp_path / "b2c.yaml"
    changed_file.write_text(text.replace("weight: 60", "weight: 70"), encoding="utf-8")
    second = versions.publish(workspace, read_scorecard(changed_file), changed_file.read_text(encoding="utf-8"))
    assert (second.version, second.created) == (2, True)
    assert second.content_hash != first.content_hash
    assert [(v.name, v.version) for v in versions.list_versions(workspace)] == [("b2c-retail", 1),
                                                                                  ("b2c-retail", 2)]
    spec, record = versions.get_version(workspace, "b2c-retail", 1)
    assert spec.content_hash == first.content_hash == record.content_hash
    assert spec.dimensions[0].weight == 60
    with workspace.session() as s:
        assert [(e.action, e.target, e.username) for e in s.query(AuditEvent).order_by(AuditEvent.id)] == [
            ("publish", "b2c-retail@1", "ana"), ("publish", "b2c-retail@2", None)]


def test_resolve_references(workspace: Workspace) -> None:
    spec, version, digest = versions.resolve(workspace)  # nothing published: the b2b-default template
    assert (spec.name, version, digest) == ("b2b-default", None, spec.content_hash)
    versions.publish(workspace, read_scorecard("b2b-default"))
    assert versions.resolve(workspace)[1] == 1
    assert versions.resolve(workspace, "b2b-default@1")[1] == 1
    assert versions.resolve(workspace, "b2c-retail")[1] is None  # an unpublished template
    with pytest.raises(UnknownName, match="did you mean 'b2b-default'"):
        versions.resolve(workspace, "b2b-defualt")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_score_synthetic_data_end_to_end(name: str, synth_tables: dict[str, object]) -> None:
    from crmscore import synth
    from crmscore.engine import build_customer_table

    con = ibis.duckdb.connect()
    tables = {k: con.create_table(k, v) for k, v in synth_tables.items()}
    features, _ = build_customer_table(tables, synth.DEFAULT_END)
    spec = read_scorecard(name)
    covered = features.filter(applies(features, spec))
    result = score(covered, spec, cache=True)
    customers = result.customers.to_pandas()
    points = result.points.to_pandas()
    assert len(customers) == covered.count().execute() > 0
    assert customers.score.between(0, 100).all()
    assert set(customers.grade) <= {"A", "B", "C", "D"}
    sums = points.groupby("customer_id").points.sum().round(1)
    assert (sums.reindex(customers.customer_id).to_numpy() == customers.score.to_numpy()).all()
    n_criteria = sum(len(d.criteria) for d in spec.dimensions)
    assert (points[points.dimension != "veto"].groupby("customer_id").size() == n_criteria).all()
    assert points.explanation_en.str.match(r"^[+-]\d+\.\d: ").all()
    assert points.explanation_zh.str.match(r"^[+-]\d+\.\d：").all()


@pytest.mark.slow
def test_preview_compares_with_the_published_version(loaded: Workspace, tmp_path: Path) -> None:
    draft = versions.preview(loaded, read_scorecard("b2b-default"))
    assert draft.published_version is None and draft.changed == 0
    assert list(draft.grades) == ["A", "B", "C", "D"] and sum(draft.grades.values()) == draft.customers > 0
    versions.publish(loaded, read_scorecard("b2b-default"))
    same = versions.preview(loaded, read_scorecard("b2b-default"))
    assert (same.published_version, same.already_published, same.changed) == (1, True, 0)
    assert same.published_grades == same.grades
    strict = tmp_path / "strict.yaml"
    strict.write_text(TEMPLATES["b2b-default"].read_text(encoding="utf-8")
                      .replace("{grade: A, min: 80", "{grade: A, min: 95")
                      .replace("{grade: B, min: 60", "{grade: B, min: 70"), encoding="utf-8")
    moved = versions.preview(loaded, read_scorecard(strict), limit=5)
    assert moved.changed > 0 and len(moved.changes) == min(5, moved.changed)
    for change in moved.changes:  # stricter bands only move grades down, scores unchanged
        assert change["from_grade"] < change["to_grade"] and change["from_score"] == change["to_score"]


@pytest.mark.slow
def test_cli_validate_publish_list_preview(loaded: Workspace) -> None:
    runner = CliRunner()
    ws = ["--workspace", str(loaded.path)]
    loaded.close()
    ok = runner.invoke(app, ["scorecard", "validate", "b2b-default", "--json", *ws])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["valid"] is True
    bad = runner.invoke(app, ["scorecard", "validate", str(FIXTURES / "many_mistakes.yaml"), "--json", *ws])
    assert bad.exit_code == 1
    body = json.loads(bad.stdout)
    expected = (FIXTURES / "many_mistakes.errors.txt").read_text(encoding="utf-8").splitlines()
    assert len(body["errors"]) == len(expected) and body["valid"] is False
    assert body["errors"][2] == {"path": "dimensions[1].criteria[0].metric", "message": "unknown metric 'employes'",
                                 "suggestion": "did you mean 'employees'?"}
    published = runner.invoke(app, ["scorecard", "publish", "b2b-default", "--json", *ws])
    assert published.exit_code == 0, published.output
    assert json.loads(published.stdout)["version"] == 1
    listed = json.loads(runner.invoke(app, ["scorecard", "list", "--json", *ws]).stdout)
    assert [(v["name"], v["version"]) for v in listed["versions"]] == [("b2b-default", 1)]
    shown = runner.invoke(app, ["scorecard", "preview", "b2b-default", "--json", *ws])
    assert shown.exit_code == 0, shown.output
    preview = json.loads(shown.stdout)
    assert preview["published_version"] == 1 and preview["changed"] == 0 and preview["customers"] > 0
    text = runner.invoke(app, ["scorecard", "preview", "b2c-retail", "--as-of", "2024-06-30", *ws])
    assert text.exit_code == 0, text.output
    assert "Not published yet" in text.stdout
