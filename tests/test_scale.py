"""Dask execution: distributed builds and evaluations give exactly what local ones give, survive a lost
worker, and resume. The cluster is a LocalCluster of 2 worker processes on loopback."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from PIL import Image
from skimage import data

from pikfix_bench.datasets import Recipe, build_dataset, open_dataset
from pikfix_bench.datasets.sources import folder_source
from pikfix_bench.degradations import build_pipeline
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation import RunDirectory, evaluate
from pikfix_bench.execution import make_executor

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    executor = make_executor("dask", scheduler="local:2")
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for index, name in enumerate(
        ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
    ):
        Image.fromarray(getattr(data, name)()[::4, ::4]).save(root / f"img{index}.png")
    return root


def build(source, out, **options):
    recipe = Recipe("folder", build_pipeline("pikfix-procedural").spec, seed=3, size=48)
    return build_dataset(
        folder_source(source), recipe, out, name="scale", progress=False, shard_size=1, **options
    )


@pytest.fixture(scope="module")
def local_build(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "ds"
    return build(source, out, workers=1)


def test_distributed_build_is_identical_to_local(cluster, source, local_build, tmp_path):
    result = build(source, tmp_path / "ds", executor=cluster)
    assert result.content_hash == local_build.content_hash
    assert (tmp_path / "ds" / "samples.h5").read_bytes() == (local_build.path / "samples.h5").read_bytes()


class _KillFirstAttempt:
    """Runs tasks on the cluster, but the first task to start kills its worker process."""

    def __init__(self, inner, marker):
        self.inner, self.marker, self.workers = inner, str(marker), inner.workers

    def run(self, function, tasks, resources=None):
        marker = self.marker

        def dying(task):
            import os as worker_os

            if not worker_os.path.exists(marker):
                open(marker, "w").close()
                worker_os._exit(1)
            return function(task)

        yield from self.inner.run(dying, tasks, resources)

    def close(self):
        pass


def test_a_lost_worker_still_completes_identically(cluster, source, local_build, tmp_path):
    result = build(source, tmp_path / "ds", executor=_KillFirstAttempt(cluster, tmp_path / "killed"))
    assert (tmp_path / "killed").exists()  # a worker really died
    assert result.content_hash == local_build.content_hash
    assert (tmp_path / "ds" / "samples.h5").read_bytes() == (local_build.path / "samples.h5").read_bytes()


class _Interrupted:
    """Lets two shards finish, then stops the driver as Ctrl-C would."""

    def __init__(self, inner):
        self.inner, self.workers = inner, inner.workers

    def run(self, function, tasks, resources=None):
        for done, item in enumerate(self.inner.run(function, tasks, resources), start=1):
            yield item
            if done == 2:
                raise KeyboardInterrupt

    def close(self):
        pass


def test_resume_after_an_interrupted_distributed_build(cluster, source, local_build, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        build(source, tmp_path / "ds", executor=_Interrupted(cluster))
    shards = sorted(os.listdir(tmp_path / "ds.partial" / "shards"))
    assert 2 <= len([s for s in shards if s.endswith(".h5")]) < 6
    result = build(source, tmp_path / "ds", executor=cluster, resume=True)
    assert result.content_hash == local_build.content_hash
    assert (tmp_path / "ds" / "samples.h5").read_bytes() == (local_build.path / "samples.h5").read_bytes()
    assert not (tmp_path / "ds.partial").exists()


def test_distributed_evaluation_gives_the_local_values(cluster, local_build, tmp_path):
    evaluate("reinhard", local_build.path, tmp_path / "local", batch_size=2, progress=False)
    evaluate(
        "reinhard",
        local_build.path,
        tmp_path / "dask",
        batch_size=2,
        progress=False,
        executor=cluster,
        shard_batches=1,
        save_outputs=True,
    )
    columns = ["sample_id", "psnr", "ssim", "lpips", "ciede2000", "colorfulness"]
    pd.testing.assert_frame_equal(
        RunDirectory(tmp_path / "local").per_image()[columns],
        RunDirectory(tmp_path / "dask").per_image()[columns],
    )
    assert len(list((tmp_path / "dask" / "outputs").glob("*.png"))) == len(open_dataset(local_build.path))


def test_executor_option_errors():
    with pytest.raises(PikfixError, match="local:N"):
        make_executor("dask", scheduler="local:two")
    with pytest.raises(PikfixError, match="--executor dask"):
        make_executor("local", scheduler="tcp://127.0.0.1:8786")
