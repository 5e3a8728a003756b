"""The reference data shipped with the tests: every golden file is there, unchanged, and has a
source and licence in SOURCES.md; and the session's skip rule (conftest.py) fails a suite
that skips for anything but a missing optional extra."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from tests.conftest import REFERENCE

pytest_plugins = ["pytester"]

# sha256 of the data files as copied from PIMSYN's repository and the reference runs: a
# changed byte would silently move every golden value measured against it
DATA_SHA256 = {
    "networks/alexnet.json": "bce3fc47901d9aab884f633284896eb5580055d0c9833303e3810370a67ef68e",
    "networks/msra_A.json": "d17182eac7174d19ae8dcd55c147a34c86f56e18ebe1057deba126e2ea6fd626",
    "networks/resnet18.json": "fa35261181ca1f724950215839a2bc8d0e8848366ec08cc26ff6a6872de71f7a",
    "networks/vgg13.json": "c36afca6e84258499a60a06bbf8a2d31b798a0c185c9e77ac764c1cf237ba33d",
    "networks/vgg16.json": "bb89474cf099bf2134e82a6790791369801f1ef220b58b3abde3742f244931dd",
    "onnx_public/onnxmodels_toolchain_sample_noconv.onnx":
        "83fa7cc9761867250a047c13fcb65d83289382ad16b42ac2f2915774234a7afb",
    "onnx_public/onnxzoo_mnist_cntk_opset1.onnx": "819588f98e0a8abdd43c00cc57c6193b46c08efbadc0b3099836991ad84eccbc",
    "onnx_public/onnxzoo_shufflenet-v2-12-int8.onnx":
        "bf5eefde67941aa7eaa7787316c9c52c4b04e07fc9587a6ea7028883be9a8d4e",
    "onnx_public/onnxzoo_super_resolution_opset10.onnx":
        "8b9b1068d8f3138f3a559a74ed31aa781312ac93968db1a097be20eba22f8ee1",
    "onnx_public/wonnx_opt-mnist.onnx": "486cf6b7d7cdb5fdce37e65537326fac02f9c9866efe1f09e3f9779e495e8624",
    "outputs/alexnet.json": "e627188d416b971bab5521a33211248a1c962ac0dcdafbb7a8fe8e9c2bd244b5",
    "outputs/alexnet_pimcomp.json": "8cd808cf35c95becfcbd81715f091972d9a57d1b7061af3721a8a17de990a1db",
    "outputs/resnet18.json": "f4d08d01649f48b22d991648535e40dd7914443b0199908378b283815428930d",
    "pimsyn_config.json": "b65eb033a44ab4a59426a197c933552117f859ca3581ad69b17ce38c04c0b4cf",
    "points.jsonl": "58febefe5ba39b1ee0a065332c5dc879edb5d23d23644c268be07498e8cf5ec4",
}
DOCS = {"README.md", "SOURCES.md"}


@pytest.mark.unit
def test_every_data_file_is_pinned_and_unchanged():
    present = {p.relative_to(REFERENCE).as_posix() for p in REFERENCE.rglob("*") if p.is_file()}
    assert present - DOCS == set(DATA_SHA256)
    changed = [name for name, digest in DATA_SHA256.items()
               if hashlib.sha256((REFERENCE / name).read_bytes()).hexdigest() != digest]
    assert changed == []


@pytest.mark.unit
def test_every_data_file_has_a_source_and_licence():
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in (REFERENCE / "SOURCES.md").read_text().splitlines() if line.startswith("| `")]
    for name in DATA_SHA256:
        folder = name.rpartition("/")[0]
        # a row names its files in backticks; a folder's JSON files may share one (``networks/*.json``)
        row = next((r for r in rows if f"`{name}`" in r[0] or f"`{folder}/*.json`" in r[0]), None)
        assert row is not None, f"{name} has no row in SOURCES.md"
        assert len(row) == 3 and row[1] and row[2], f"{name}: source or licence missing in SOURCES.md"


def _suite(pytester, body: str):
    pytester.makeconftest((REFERENCE.parent.parent / "conftest.py").read_text())
    pytester.makepyfile(test_x=textwrap.dedent(body))
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")


@pytest.mark.unit
def test_a_skip_for_a_missing_file_fails_the_session(pytester):
    res = _suite(pytester, """
        import pytest
        pytestmark = pytest.mark.unit
        def test_ok():
            pass
        def test_golden():
            pytest.skip("reference data is not beside the checkout")
    """)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    res.stdout.fnmatch_lines(["*1 skip(s) not for a missing optional extra: failing*",
                              "test_x.py::test_golden: reference data is not beside the checkout"])


@pytest.mark.unit
def test_a_module_skipped_at_collection_fails_the_session(pytester):
    res = _suite(pytester, """
        import pytest
        pytest.skip("no data", allow_module_level=True)
    """)
    assert res.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.unit
def test_a_skip_for_a_missing_optional_extra_is_allowed_and_named(pytester):
    res = _suite(pytester, """
        import pytest
        from conftest import optional_extra
        pytestmark = pytest.mark.unit
        def test_plot():
            optional_extra("evo_pimsyn_no_such_module", "plot")
    """)
    assert res.ret == pytest.ExitCode.OK
    res.stdout.fnmatch_lines(["*optional extra [[]plot[]] is not installed (no module 'evo_pimsyn_no_such_module')*"])
