"""Public traces and data sets, known by name, fetched from their original URL and checked by SHA-256.

>>> from workbench.io.datasets import dataset_path, DATASETS
>>> path = dataset_path("azure-2023-conv")        # the verified local file
>>> sorted(DATASETS)                               # every known name

Where the file comes from, first match wins:

1. ``$WORKBENCH_DATA_MIRROR/<folder>/<file>`` when that variable is set (offline use, CI, tests):
   read in place, SHA-256 checked, never downloaded. A file the mirror lacks is an error.
2. the user cache, ``$WORKBENCH_DATA_CACHE`` or ``~/.cache/llm-cost-workbench/datasets/<folder>/<file>``,
   when present and its SHA-256 matches;
3. a download from the original URL (written to a temporary file beside the target, hashed while
   streaming, renamed into place only when the hash matches; nothing partial is ever left).

Offline without a mirror, the error names the URL and the mirror variable. Each entry records the
repository and commit the file comes from; hashes are those of the copies in ``shared/data``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

#: Environment variable naming a folder that mirrors the data sets (``<folder>/<file>``).
MIRROR_ENV = "WORKBENCH_DATA_MIRROR"
#: Environment variable overriding the download cache folder.
CACHE_ENV = "WORKBENCH_DATA_CACHE"
DEFAULT_CACHE = Path("~/.cache/llm-cost-workbench/datasets")
_CHUNK = 1 << 20


class DatasetError(OSError):
    """A data set cannot be provided: unknown name, missing mirror file, bad hash, no network."""


@dataclass(frozen=True)
class DataFile:
    """One file of a data set. ``member``: the file sits inside the zip/wheel at ``url``, whose own
    hash is ``archive_sha256``. ``url=None``: no public original; available from a mirror only."""

    path: str  # inside the data set's folder (the mirror's layout)
    sha256: str
    url: str | None
    size: int | None = None
    member: str | None = None
    archive_sha256: str | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str
    files: tuple[DataFile, ...]
    description: str
    source: str  # repository @ commit (or release) the files come from
    licence: str
    ingest_format: str | None = None  # the workbench.io.traffic format that reads it, if any
    notes: str = ""

    def file(self, path: str | None = None) -> DataFile:
        if path is None:
            if len(self.files) != 1:
                raise DatasetError(f"{self.name} has {len(self.files)} files; name one: "
                                   f"{', '.join(f.path for f in self.files[:8])}...")
            return self.files[0]
        for f in self.files:
            if f.path == path or Path(f.path).name == path:
                return f
        raise DatasetError(f"{self.name} has no file {path!r}; files: {', '.join(f.path for f in self.files)}")


class DatasetRegistry(Mapping[str, Dataset]):
    def __init__(self, datasets: list[Dataset]):
        self._d = {d.name: d for d in datasets}

    def __getitem__(self, name: str) -> Dataset:
        try:
            return self._d[name]
        except KeyError:
            raise DatasetError(f"unknown data set {name!r}; known: {', '.join(self._d)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


def _gh(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_AZURE = ("Azure/AzurePublicDataset", "b469a113cedca53ddc3bdea71a143dc4b7d8700c")
_MOONCAKE = ("kvcache-ai/Mooncake", "3b5a594133958449a1feaf1c9e0fc1b553e34a28")
_ROUTELLM = ("lm-sys/RouteLLM", "0b64fdafe049e596a3f5657c219329f24af24198")
_FASTCHAT = ("lm-sys/FastChat", "0e6d3e4beaab66f4d3f93db72541a4abab8af28d")
_GPTCACHE = ("zilliztech/GPTCache", "c59fb3a6152a4458b2a070ca183b61c4b614095f")
_BURSTGPT = ("HPMLL/BurstGPT", "5d93d820d9b6bee4e26914df003e5713538164ae")
_MT_BENCH_URL = _gh(*_FASTCHAT, "fastchat/llm_judge/data/mt_bench/question.jsonl")
_MT_BENCH_SHA = "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7"

#: RouteLLM MMLU response files (routellm/evals/mmlu/responses/), SHA-256 of each.
_MMLU = (
    ("mmlu_abstract_algebra.csv", "67e564eea42e71fbfcaf616972df952c316e5538376da1c16d691177458b96b9"),
    ("mmlu_anatomy.csv", "53ebea8257805eeecc25713728264b8235cffad7b720962a3eafc92fd27ef537"),
    ("mmlu_astronomy.csv", "49915ece9dfe8aadbd351f221ada2ea86b6f832ce49fa64d1622a0f066c19794"),
    ("mmlu_business_ethics.csv", "13a45bed754ffe8f0e7f0348e69085c648a1ae0e91aa76cd5e6906fa45f7ec8e"),
    ("mmlu_clinical_knowledge.csv", "5ea37709bfbad4df7a3fcbd8973413f7645a2adfef9772490f09d3f293ffe882"),
    ("mmlu_college_biology.csv", "c38620db5b9f6f1b0fde7bc8d8299b8e2305c4dacbb1567c904cd51618d627d5"),
    ("mmlu_college_chemistry.csv", "78ca6ba22ff25c8fdb93e1c6e84384e72522106c73ed5ee9fed620928ce395ce"),
    ("mmlu_college_computer_science.csv", "8a7b2a87a36b428c9d1a8f12ce3b01cf7920f0a7146d6f8a111da6749c332da3"),
    ("mmlu_college_mathematics.csv", "3f22f42779c48509c66e21d7d1fc3054eb0256c1b5b772bb6d9a3af1b253238b"),
    ("mmlu_college_medicine.csv", "63d71d29e630fc6538e1705a51f4267bdbbdea0fa7ee85056ad7d6f8f10d3987"),
    ("mmlu_college_physics.csv", "8162a0660d4ef7b963088e0a176d4b8630096127a0d0b5ed003f649cbad34455"),
    ("mmlu_computer_security.csv", "26446faf7460f03aa2d82a05c170faedb5cbf6d7bdda133b1146229107097d1c"),
    ("mmlu_conceptual_physics.csv", "ea40473704b64cb60d564ffe91962848ec6fc3106b40089d08cebc98d5c7226d"),
    ("mmlu_econometrics.csv", "927b4d877cec8697f3b8378bb7e7c7a279babaea2edacf350ea50908701907b9"),
    ("mmlu_electrical_engineering.csv", "de2fb7c2e9addb4808f5b3f7c79efbfdfb86216235bb7dc28ab70bc53664f11e"),
    ("mmlu_elementary_mathematics.csv", "88697ff0d238b5852c7a959379dc8b0b45c3554ed4b2ee7cbb7ffc34e06c7cf5"),
    ("mmlu_formal_logic.csv", "094a462626468569ad595c03e66e73a299188cfa175248b499dba94e005506e6"),
    ("mmlu_global_facts.csv", "6f75ddf7d6eb94ac0471529a85ff7f8b738c9f4055185b3114eed26393222d06"),
    ("mmlu_high_school_biology.csv", "444982fc2c750ab8cbc6942a0c0267040aa5023c1d2364247d20e2a28b4e325d"),
    ("mmlu_high_school_chemistry.csv", "ae5e62479365dcd056354c568f60da65b1df9f1de57dda3953a8e9933a6f12e4"),
    ("mmlu_high_school_computer_science.csv", "d156d9448a6e899f7f976a0afac148a928bf709a2baa573f0c407854a25bdb11"),
    ("mmlu_high_school_european_history.csv", "c64afd6c5e30ef0cd5c10beab961ac05e7ba55d6b48cd93bf6ad0a45f90515bf"),
    ("mmlu_high_school_geography.csv", "21b12044be4a6b9813880ad46372006dc0846e7f85fa46883bb73dbd90fba30a"),
    ("mmlu_high_school_government_and_politics.csv", "2791689acc61775a5857f4f3a5fd248d30552553c3a96f6ee63dc28285437259"),
    ("mmlu_high_school_macroeconomics.csv", "73b931a2a06ba74a5c9f1e005d45a25004e36be5d075d98f8ebcf89b3fda367b"),
    ("mmlu_high_school_mathematics.csv", "151b2a736981b7b20f3bad99de6a573e4692d68cf87020e943b601b70bb37390"),
    ("mmlu_high_school_microeconomics.csv", "f7ea151efb4c9d96374db3358ac7e97e4d8349e26715f61dac98bc9d854ca046"),
    ("mmlu_high_school_physics.csv", "1e2103fc8f7f1cfac7c00952b26db2418acab092486af78a9c51c551ae2ff9be"),
    ("mmlu_high_school_psychology.csv", "d11604f2c7a2425258d5b9a285ef71737c011cc3a91456890f088a0ee4c55212"),
    ("mmlu_high_school_statistics.csv", "de6642bcd93d7a80e7bbd73d987a44d67b6e537b47749ddc518122fd582703bb"),
    ("mmlu_high_school_us_history.csv", "a71186d143363e203b2f216d78c9d21f10cca51de455ef176c9c01b77f546592"),
    ("mmlu_high_school_world_history.csv", "e9c52305977dc37b3e48eee727ad933b2d24d96ca3a06aec865a8900b1e87d2c"),
    ("mmlu_human_aging.csv", "0d6c4109b4f61f138781ce50bbc60ff2e90dd451694d3926a088be5a5bd88aa8"),
    ("mmlu_human_sexuality.csv", "20916037e3012731883f926738daf47ed994f74ba25518fdb7f0df72a81143fd"),
    ("mmlu_international_law.csv", "e389b886e3e1570bfdf798f6f56dc3c675350200c5baf0f41a0766294ff312eb"),
    ("mmlu_jurisprudence.csv", "7e94c3849231be7b2654db11e44ee51531f8474e300fe83b1e05438df3038f0b"),
    ("mmlu_logical_fallacies.csv", "fa2d94cd2e901621aaebd0a7e64560b5dbbe4249086795398533eed2561c0c1e"),
    ("mmlu_machine_learning.csv", "9301e928481be6e20b3541e1ac112b25a4a71338b21592978c0d219cb6240020"),
    ("mmlu_management.csv", "a00b12ab0265918f9335a85ce02303ddaea0491a7b099f88a05986eeac4aa4fb"),
    ("mmlu_marketing.csv", "3ee0b6560ebe0eb4f14ce63227d6f6ec8cb8b6e57e345eae9460be742672f36c"),
    ("mmlu_medical_genetics.csv", "7c830f87dcbc0029137b3400cf361931831cb57dda55717a64e72ad74663d5df"),
    ("mmlu_miscellaneous.csv", "c2e1a5b0394a8429f55b6340e1865166ac17ec6b3571523005e413b3b2843b9f"),
    ("mmlu_moral_disputes.csv", "8b2b973b1987b724f39fd10970604d7f1150747a0db9ce766c193bd978c9d0c4"),
    ("mmlu_moral_scenarios.csv", "78ded6fdca1cd0d5c4ed16a5ed4aebf2e98401b9c00b20e565e6cce5bf1153c7"),
    ("mmlu_nutrition.csv", "ba197fbf4b6c5034414d66ea7747211056cf5f709f83d919d2d856245720cc51"),
    ("mmlu_philosophy.csv", "2f30ad01ab529ddea00dff4ff87e950fef838a78754c94f6884120628a7d0591"),
    ("mmlu_prehistory.csv", "afc816d4b78814627bae9b8c3730a9bb72bd958ff6259fd36c981777cfe83753"),
    ("mmlu_professional_accounting.csv", "fe5ee976a625832ecf624086103619523d063a3a728c60681b6a53c55b638a37"),
    ("mmlu_professional_law.csv", "60a4308df4f481ff8840590b29061835207b50a9f06a9fc68baf12b114f7e2e0"),
    ("mmlu_professional_medicine.csv", "6fda30b523e4e2ce8b1f18e871a0722190a4ac81ec377a75fbba4a63e0b510f7"),
    ("mmlu_professional_psychology.csv", "bfb3a7fb653e2b195d3fa258894af64d3f1c3dbd4059c1e0feb728131d20f9b3"),
    ("mmlu_public_relations.csv", "2196279ea2535fbda62509c3156209b764459a3d515a9ba84b69cf16bb4c27d0"),
    ("mmlu_security_studies.csv", "1354bb17649f95b7dd8ef3179e22329abe6bef84e639d63370ae9e80b2509905"),
    ("mmlu_sociology.csv", "903ba6259b13f2877607abef22b7b19cb575104268d4ced615e3129d3caafb47"),
    ("mmlu_us_foreign_policy.csv", "f1c1d266753a3f161e2018c16c6948fb78c7f5e506a10b4fc0441049962a6c69"),
    ("mmlu_virology.csv", "d525f1ba88982befd42140e73822fe940e73db82bbdcdd569d95f26c3dd41e68"),
    ("mmlu_world_religions.csv", "49dc00d44e069ecaac6a7f7e2188f4a8bce5df56ee91bb15f55519d07f64af8e"),
)

DATASETS = DatasetRegistry([
    Dataset(
        "azure-2023-conv", "azure_llm_2023",
        (DataFile("AzureLLMInferenceTrace_conv.csv",
                  "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8",
                  _gh(*_AZURE, "data/AzureLLMInferenceTrace_conv.csv"), 719188),),
        "Azure LLM inference trace 2023, conversation service: 19,366 requests in about an hour",
        f"{_AZURE[0]}@{_AZURE[1]}", "CC-BY-4.0", "azure-2023"),
    Dataset(
        "azure-2023-code", "azure_llm_2023",
        (DataFile("AzureLLMInferenceTrace_code.csv",
                  "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6",
                  _gh(*_AZURE, "data/AzureLLMInferenceTrace_code.csv"), 320117),),
        "Azure LLM inference trace 2023, code service: 8,819 requests in about an hour",
        f"{_AZURE[0]}@{_AZURE[1]}", "CC-BY-4.0", "azure-2023"),
    Dataset(
        "mooncake-synthetic", "mooncake_synthetic",
        (DataFile("synthetic_trace.jsonl",
                  "bd070915a98fc0ed264d7cfef2ce746002eb3076a695ec31ba2674c0111ec131",
                  _gh(*_MOONCAKE, "FAST25-release/traces/synthetic_trace.jsonl"), 1136313),),
        "Mooncake FAST'25 synthetic trace: 3,993 requests with 512-token prefix-block hashes",
        f"{_MOONCAKE[0]}@{_MOONCAKE[1]}", "Apache-2.0", "mooncake"),
    Dataset(
        "burstgpt", "burstgpt",
        (DataFile("BurstGPT_1.csv",
                  "4bb3783693d0a435686fbfc885615d2349bd067239079fa4b749f2e679e12122",
                  f"https://media.githubusercontent.com/media/{_BURSTGPT[0]}/{_BURSTGPT[1]}/data/BurstGPT_1.csv",
                  52283111),),
        "BurstGPT: GPT-3.5/GPT-4 request trace on Azure, first 2 months with failures (1,429.7k lines)",
        f"{_BURSTGPT[0]}@{_BURSTGPT[1]} (Git LFS object; hash from its LFS pointer)", "CC-BY-4.0", "burstgpt",
        notes="not in shared/data: downloaded on first use (52 MB)"),
    Dataset(
        "routellm", "routellm",
        tuple(DataFile(f"mmlu_responses/{name}", sha, _gh(*_ROUTELLM, f"routellm/evals/mmlu/responses/{name}"))
              for name, sha in _MMLU) + (
            DataFile("gsm8k/gsm8k_responses.csv", "1f38ed03db354a020f71e92022383dc3cf37bbf2694dea4daaeea7b6c43fe57b",
                     _gh(*_ROUTELLM, "routellm/evals/gsm8k/gsm8k_responses.csv"), 1291062),
            DataFile("gsm8k/contaminated_prompts.jsonl",
                     "1f5a7be02148ee0f7f306d233ba76a6573c826cee9499a34f8ef938a1a84c234",
                     _gh(*_ROUTELLM, "routellm/evals/gsm8k/contaminated_prompts.jsonl"), 6282),
            DataFile("mt_bench/judgements.jsonl", "ffd1d44e7af835c810d35ebd420b88a47acd8aac850f46b149b9889964ae4478",
                     _gh(*_ROUTELLM, "routellm/evals/mt_bench/judgements.jsonl"), 1417551),
            DataFile("mt_bench/contaminated_prompts.jsonl",
                     "a77356ecd7cab6ba9bfb6d7b91c512f83aee4f82309934387a6cdfb915882109",
                     _gh(*_ROUTELLM, "routellm/evals/mt_bench/contaminated_prompts.jsonl"), 2694),
            DataFile("mt_bench/question.jsonl", _MT_BENCH_SHA, _MT_BENCH_URL, 48929),
        ),
        "RouteLLM eval data: per-question correctness of Mixtral-8x7B vs GPT-4 on MMLU (14,042) and "
        "GSM8K (1,319), MT-Bench GPT-4 judgements",
        f"{_ROUTELLM[0]}@{_ROUTELLM[1]}", "Apache-2.0",
        notes="mt_bench/question.jsonl is byte-identical to FastChat's MT-Bench questions and is fetched from there"),
    Dataset(
        "gptcache-qqp", "gptcache_qqp",
        (DataFile("mock_data.json", "d52872b116568f654fb373ac782bfbcd01d67061764705a84303a0a67aae1ef4",
                  _gh(*_GPTCACHE, "examples/benchmark/mock_data.json"), 317720),
         DataFile("qqp_pairs_sample2000.jsonl", "18ea997110e966ada0fb13e94b8025be1eca36f06c71e03b057048b2d9169654",
                  None, 317992)),
        "GPTCache benchmark data: 999 origin/paraphrase pairs and 2,000 labelled Quora question pairs",
        f"{_GPTCACHE[0]}@{_GPTCACHE[1]} examples/benchmark/", "MIT; question text under Quora's dataset terms",
        notes="qqp_pairs_sample2000.jsonl is a sample extracted from the repository's similiar_qqp.json.gz "
              "archive, not a file of its own: mirror only"),
    Dataset(
        "bitext", "bitext_customer_support",
        (DataFile("Bitext_Sample_Customer_Support_Training_Dataset.csv",
                  "079b0cec48d34c319c9877b6d178390bf7187a7f7a604958e0ed5a096bba5af6",
                  "https://github.com/bitext/customer-support-llm-chatbot-training-dataset/raw/8b6ca3d/"
                  "data/train/Bitext_Sample_Customer_Support_Training_Dataset.csv", 3562316),),
        "Bitext customer-support requests with intents (27) and reference responses: 4,514 rows",
        "bitext/customer-support-llm-chatbot-training-dataset@8b6ca3d (2023-08-18)", "CDLA-Sharing-1.0"),
    Dataset(
        "mt-bench", "mt_bench",
        (DataFile("mt_bench__question.jsonl", _MT_BENCH_SHA, _MT_BENCH_URL, 48929),),
        "MT-Bench questions: 80 x 2 turns in 8 categories",
        f"{_FASTCHAT[0]}@{_FASTCHAT[1]}", "Apache-2.0"),
    Dataset(
        "litellm-price-map", "litellm_price_map",
        (DataFile("model_prices_and_context_window.json",
                  "8f8060d8ce7a40c91b995c74d6a27657543d49e3c1c53430dabd556f244392c6",
                  "https://files.pythonhosted.org/packages/cp310/l/litellm/"
                  "litellm-1.109.1-cp310-abi3-manylinux_2_28_x86_64.whl",
                  3176369, member="litellm/model_prices_and_context_window_backup.json",
                  archive_sha256="1c8b4dd671fa0cd0850aa751678704ff77e595fb1e6085b2dc3be39ee19bdaaf"),),
        "LiteLLM's model price map (4,552 entries, USD per token) as shipped in the litellm 1.109.1 wheel",
        "PyPI litellm 1.109.1 (model_prices_and_context_window_backup.json)", "MIT"),
])


# ------------------------------------------------------------------------------------- access

Opener = Callable[[str], object]  # url -> a readable binary response (urllib by default)
_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file (cached per process by path, size and modification time)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def _urlopen(url: str):
    import urllib.request  # imported here: only a download needs the network

    req = urllib.request.Request(url, headers={"User-Agent": "llm-cost-workbench"})
    return urllib.request.urlopen(req, timeout=60)  # noqa: S310 - https URLs from the registry above


def _download(ds: Dataset, f: DataFile, target: Path, opener: Opener) -> None:
    """Fetch ``f`` to ``target`` atomically: temporary file beside it, hash checked, then renamed."""
    if f.url is None:
        raise DatasetError(f"{ds.name}: {f.path} has no public download ({ds.notes or 'mirror only'}); "
                           f"set {MIRROR_ENV} to a folder holding {ds.folder}/{f.path}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, opener(f.url) as resp:  # type: ignore[attr-defined]
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    h.update(block)
                    out.write(block)
        except OSError as e:  # URLError and socket errors are OSErrors
            raise DatasetError(f"cannot download {ds.name} from {f.url}: {e}. Offline? Set {MIRROR_ENV} to a "
                               f"folder holding {ds.folder}/{f.path}") from None
        expected = f.archive_sha256 if f.member else f.sha256
        if h.hexdigest() != expected:
            raise DatasetError(f"{ds.name}: download from {f.url} has SHA-256 {h.hexdigest()}, expected {expected}")
        if f.member:
            member_tmp = tmp.with_suffix(".member")
            try:
                with zipfile.ZipFile(tmp) as z, z.open(f.member) as src, open(member_tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                os.replace(member_tmp, tmp)
            finally:
                member_tmp.unlink(missing_ok=True)
            if sha256_of(tmp) != f.sha256:
                raise DatasetError(f"{ds.name}: {f.member} in {f.url} has SHA-256 {sha256_of(tmp)}, "
                                   f"expected {f.sha256}")
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _provide(ds: Dataset, f: DataFile, mirror: Path | None, cache: Path, opener: Opener) -> Path:
    if mirror is not None:
        path = mirror / ds.folder / f.path
        if not path.is_file():
            raise DatasetError(f"{ds.name}: {path} is not in the mirror {mirror} (set by {MIRROR_ENV})")
        got = sha256_of(path)
        if got != f.sha256:
            raise DatasetError(f"{ds.name}: {path} has SHA-256 {got}, expected {f.sha256} (mirror copy altered?)")
        return path
    path = cache / ds.folder / f.path
    if path.is_file() and sha256_of(path) == f.sha256:
        return path
    _download(ds, f, path, opener)
    return path


def dataset_path(
    name: str,
    file: str | None = None,
    *,
    mirror: str | Path | None = None,
    cache: str | Path | None = None,
    opener: Opener | None = None,
) -> Path:
    """Local path of a public data set's file, verified by SHA-256 (see the module docstring).

    ``file``: which file of a multi-file data set (``"gsm8k/gsm8k_responses.csv"`` or just its
    name); without it a single-file data set returns its file and a multi-file one its folder, with
    every file present and verified. ``mirror``/``cache`` override the environment variables.
    """
    ds = DATASETS[name]
    mirror_dir = Path(mirror) if mirror is not None else (
        Path(os.environ[MIRROR_ENV]) if os.environ.get(MIRROR_ENV) else None)
    cache_root = Path(cache) if cache is not None else cache_dir()
    fetch = opener or _urlopen
    if file is not None or len(ds.files) == 1:
        return _provide(ds, ds.file(file), mirror_dir, cache_root, fetch)
    for f in ds.files:
        _provide(ds, f, mirror_dir, cache_root, fetch)
    return (mirror_dir if mirror_dir is not None else cache_root) / ds.folder


__all__ = ["DATASETS", "DataFile", "Dataset", "DatasetError", "MIRROR_ENV", "CACHE_ENV", "dataset_path",
           "sha256_of", "cache_dir"]
