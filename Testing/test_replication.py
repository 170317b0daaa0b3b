"""``axillary-predictor replicate PAPER``: every study's method runs end to end on a small synthetic cohort,
prints the paper's tables, and its selection finds the planted signal features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from AxillaryPredictorLib.cli.main import main
from AxillaryPredictorLib.cli.replicate import STUDIES, load_study, package_scores
from AxillaryPredictorLib.phantoms.study_tables import cohort_sizes, simulate_study

CASES = 240


def test_study_generator_plants_what_the_spec_says():
    spec = load_study("zeng2025")
    cohort = simulate_study(spec, cases=400, seed=3)
    sizes = cohort.clinical["split"].value_counts().to_dict()
    assert sizes == cohort_sizes(spec["cohorts"], 400)
    assert abs(cohort.clinical[spec["outcome"]].mean() - spec["prevalence"]) < 0.08
    assert all(c.startswith("delta__") for c in cohort.features.columns[1:])
    y = cohort.clinical[spec["outcome"]].to_numpy()
    planted = sorted(cohort.planted)
    noise = [c for c in cohort.features.columns[1:] if c not in cohort.planted]
    def auc(column):
        x = cohort.features[column].to_numpy()
        ranks = pd.Series(x).rank().to_numpy()
        n1 = y.sum()
        value = (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1))
        return max(value, 1 - value)
    assert np.median([auc(c) for c in planted]) > 0.65 > np.median([auc(c) for c in noise])
    icc_gap = [np.corrcoef(cohort.features[c], cohort.reader2[c])[0, 1] for c in planted]
    assert min(icc_gap) > 0.8  # planted features are reproducible between readers


@pytest.mark.slow
@pytest.mark.parametrize("paper", STUDIES)
def test_replication_prints_the_papers_tables_and_finds_the_signal(paper, tmp_path, capsys):
    out = tmp_path / paper
    assert main(["replicate", paper, "--cases", str(CASES), "--seed", "1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    for heading in ("Table 1", "Table 2", "Selected features", "Discrimination (AUC", "DeLong tests",
                    "Hosmer-Lemeshow", "Decision curve analysis", "Planted signal features selected"):
        assert heading in text, heading
    spec = load_study(paper)
    models = pd.read_csv(out / "evaluation" / "models.csv")
    assert set(models["cohort"]) == set(spec["cohorts"])
    assert {m.rsplit("-", 1)[1] for m in models["model"]} == {"clinical", "radiomics", "combined"}
    planted = json.loads((out / "planted.json").read_text())
    document = json.loads((out / f"{paper}-radiomics.json").read_text())
    # the selected inputs of every score: derived RadScores, or the members of a post-fusion stack (Liu)
    selected = {f for score in package_scores(document) for f in score["features"]} or set(document["features"])
    all_planted = {c for cs in planted.values() for c in cs}
    columns = pd.read_csv(out / "features.csv", nrows=1).columns[1:]
    found = selected & all_planted
    # every latent the outcome depends on is found by at least one of its planted features, and planted
    # features are over-represented among the selected ones (at least 3x their share of the columns)
    assert all(set(cs) & selected for cs in planted.values() if cs), (planted, selected)
    assert len(found) / len(selected) >= 3 * len(all_planted) / len(columns), (found, selected)
    training = models[(models["cohort"] == next(iter(spec["cohorts"]))) & models["model"].str.endswith("radiomics")]
    assert training["auc"].iloc[0] > 0.7


def test_study_specs_name_the_papers_and_their_recipes():
    from AxillaryPredictorLib.modeling.recipes import list_recipes

    for paper in STUDIES:
        spec = load_study(paper)
        assert spec["name"] == paper and spec["recipe"] in list_recipes()
        assert spec.get("doi") or spec.get("citation")
        assert set(spec["clinical_model"]) | set(spec["combined_model"]) <= \
            {v["name"] for v in spec["clinical"]} | set(spec.get("derived", []))
        yaml.safe_dump(spec)  # plain data
