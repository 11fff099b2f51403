"""The public traces, by name, from the read-only mirror in ../shared/data: real figures."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from workbench.io.datasets import DATASETS, DataFile, Dataset, DatasetError, dataset_path
from workbench.io.traffic import load_log

AZURE_CONV_ROWS, AZURE_CODE_ROWS, MOONCAKE_ROWS = 19_366, 8_819, 3_993


def test_registry_names():
    assert set(DATASETS) == {"azure-2023-conv", "azure-2023-code", "mooncake-synthetic", "burstgpt", "routellm",
                             "gptcache-qqp", "bitext", "mt-bench", "litellm-price-map"}
    with pytest.raises(DatasetError, match="unknown data set 'azure'; known: azure-2023-conv"):
        dataset_path("azure")
    for ds in DATASETS.values():
        for f in ds.files:
            assert len(f.sha256) == 64 and (f.url is None or f.url.startswith("https://"))
            if f.url and "githubusercontent.com" in f.url:
                assert any(len(part) == 40 for part in f.url.split("/")), f.url  # pinned to a commit


def test_every_mirrored_file_matches_its_hash(data_mirror):
    for name, ds in DATASETS.items():
        if name == "burstgpt":  # not mirrored in shared/data
            continue
        path = dataset_path(name)
        assert path.is_relative_to(data_mirror)
        for f in ds.files:
            assert (data_mirror / ds.folder / f.path).is_file()


def test_mirror_without_the_file_is_a_clear_error(data_mirror):
    with pytest.raises(DatasetError, match="BurstGPT_1.csv is not in the mirror .*WORKBENCH_DATA_MIRROR"):
        dataset_path("burstgpt")


def test_azure_conv_real_figures(data_mirror, book):
    r = load_log(dataset_path("azure-2023-conv"), model="gpt-4o-mini", book=book)
    f = r.frame
    assert (r.format, r.rows_read, len(f), r.rejected_count) == ("azure-2023", AZURE_CONV_ROWS, AZURE_CONV_ROWS, 0)
    assert f["input_tokens"].mean() == pytest.approx(1155, abs=0.5)
    assert f["output_tokens"].mean() == pytest.approx(211, abs=0.5)
    assert f["input_tokens"].median() == 1020 and f["output_tokens"].median() == 129
    assert f["input_tokens"].quantile(0.95) == pytest.approx(4083, abs=2)
    span = (f["ts"].max() - f["ts"].min()).total_seconds()
    assert len(f) / span == pytest.approx(5.53, abs=0.01)  # req/s
    assert str(f["ts"].min()) == "2023-11-16 18:15:46.680590+00:00"


def test_azure_code_real_figures(data_mirror, book):
    f = load_log(dataset_path("azure-2023-code"), model="gpt-4o-mini", book=book).frame
    assert len(f) == AZURE_CODE_ROWS
    assert f["input_tokens"].mean() == pytest.approx(2048, abs=0.5)
    assert f["output_tokens"].mean() == pytest.approx(28, abs=0.5)
    assert (f["input_tokens"].median(), f["output_tokens"].median()) == (1469, 13)


def test_mooncake_real_figures_and_prefix_hashes(data_mirror, book):
    r = load_log(dataset_path("mooncake-synthetic"), model="gpt-4o-mini", origin="2025-01-01", book=book)
    f = r.frame
    assert (len(f), r.rejected_count) == (MOONCAKE_ROWS, 0)
    assert f["input_tokens"].mean() == pytest.approx(15325, abs=1)  # the trace README's averages
    assert f["output_tokens"].mean() == pytest.approx(149, abs=1)
    seen, hits, blocks = set(), 0, 0
    for tags in f["tags"]:  # file order is kept within equal timestamps (ids sort in line order)
        ids = json.loads(tags)["hash_ids"]
        blocks += len(ids)
        hits += sum(i in seen for i in ids)
        seen.update(ids)
    assert hits / blocks == pytest.approx(0.640, abs=0.0005)  # unbounded prefix-block hit ratio 64.0 %


# ----------------------------------------------------------------------- downloads (no network)

def _fake_opener(payloads: dict[str, bytes], calls: list[str]):
    def opener(url: str):
        calls.append(url)
        if url not in payloads:
            raise OSError("network is unreachable")
        return io.BytesIO(payloads[url])
    return opener


def _one_file_dataset(monkeypatch, content: bytes, **kw) -> Dataset:
    f = DataFile("data.csv", hashlib.sha256(content).hexdigest(), "https://example.org/data.csv", **kw)
    ds = Dataset("toy", "toy", (f,), "toy", "test", "none")
    monkeypatch.setitem(DATASETS._d, "toy", ds)
    return ds


def test_download_is_verified_atomic_and_cached(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_MIRROR", raising=False)
    content = b"a,b\n1,2\n"
    _one_file_dataset(monkeypatch, content)
    calls: list[str] = []
    opener = _fake_opener({"https://example.org/data.csv": content}, calls)
    path = dataset_path("toy", cache=tmp_path, opener=opener)
    assert path == tmp_path / "toy" / "data.csv" and path.read_bytes() == content
    assert dataset_path("toy", cache=tmp_path, opener=opener) == path and len(calls) == 1  # cached
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["data.csv"]  # no temporary files left


def test_bad_download_hash_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_MIRROR", raising=False)
    _one_file_dataset(monkeypatch, b"expected")
    opener = _fake_opener({"https://example.org/data.csv": b"tampered"}, [])
    with pytest.raises(DatasetError, match="has SHA-256 .*expected"):
        dataset_path("toy", cache=tmp_path, opener=opener)
    assert list((tmp_path / "toy").iterdir()) == []


def test_offline_error_names_url_and_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_MIRROR", raising=False)
    _one_file_dataset(monkeypatch, b"x")
    with pytest.raises(DatasetError, match=r"cannot download toy from https://example.org/data.csv: .*"
                                           r"Offline\? Set WORKBENCH_DATA_MIRROR"):
        dataset_path("toy", cache=tmp_path, opener=_fake_opener({}, []))
    assert list((tmp_path / "toy").iterdir()) == []


def test_member_of_an_archive(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_MIRROR", raising=False)
    member = b'{"gpt-4o": {"input_cost_per_token": 2.5e-06}}'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/prices.json", member)
    archive = buf.getvalue()
    f = DataFile("prices.json", hashlib.sha256(member).hexdigest(), "https://example.org/pkg.whl",
                 member="pkg/prices.json", archive_sha256=hashlib.sha256(archive).hexdigest())
    monkeypatch.setitem(DATASETS._d, "toy", Dataset("toy", "toy", (f,), "toy", "test", "none"))
    path = dataset_path("toy", cache=tmp_path, opener=_fake_opener({f.url: archive}, []))
    assert path.read_bytes() == member


def test_mirror_only_file_and_tampered_mirror(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_MIRROR", raising=False)
    with pytest.raises(DatasetError, match="qqp_pairs_sample2000.jsonl has no public download"):
        dataset_path("gptcache-qqp", "qqp_pairs_sample2000.jsonl", cache=tmp_path, opener=_fake_opener({}, []))
    fake = tmp_path / "mirror" / "mt_bench"
    fake.mkdir(parents=True)
    (fake / "mt_bench__question.jsonl").write_text("{}\n")
    with pytest.raises(DatasetError, match="mirror copy altered"):
        dataset_path("mt-bench", mirror=tmp_path / "mirror")


def test_multi_file_dataset_by_file_name(data_mirror):
    p = dataset_path("routellm", "gsm8k_responses.csv")
    assert p == data_mirror / "routellm" / "gsm8k" / "gsm8k_responses.csv"
    with pytest.raises(DatasetError, match="has no file 'nope.csv'"):
        dataset_path("routellm", "nope.csv")
    assert len(list(Path(dataset_path("routellm")).glob("mmlu_responses/*.csv"))) == 57
