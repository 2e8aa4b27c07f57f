"""The Dask reader on a real cluster (``distributed.LocalCluster``, two
worker processes): one partition per file, decoded on the workers, equal
to the single-process reader; a bad file fails the computation with the
decoder's error naming it."""

import glob
import os
import shutil

import pandas as pd
import pytest
from distributed import Client, LocalCluster

from qmpfast import DecodeError
from qmpfast.dask_reader import read_partition, read_qmp

from conftest import SAMPLES, SEED


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture
def fleet(tmp_path):
    """Many files, as a fleet's archive."""
    files = sorted(glob.glob(os.path.join(SAMPLES, "*.qmp"))
                   + glob.glob(os.path.join(SEED, "*")))
    paths = []
    for copy in range(3):
        for f in files:
            path = tmp_path / f"vm{copy}-{os.path.basename(f)}"
            shutil.copy(f, path)
            paths.append(str(path))
    return paths


def test_cluster_result_equals_single_process(client, fleet):
    frame = read_qmp(fleet)
    assert frame.npartitions == len(fleet)
    workers = client.run(os.getpid)
    assert len(workers) == 2 and os.getpid() not in workers.values()
    got = frame.compute().reset_index(drop=True)
    single = pd.concat([read_partition(p) for p in fleet], ignore_index=True)
    assert len(got) > 100
    pd.testing.assert_frame_equal(got, single)
    assert set(got["source"]) == set(fleet)
    by_name = frame.groupby("name")["offset"].count().compute()
    assert by_name["STOP"] == (single["name"] == "STOP").sum()


def test_cluster_event_filter(client, fleet):
    got = read_qmp(fleet, events={"STOP"}).compute()
    assert set(got["name"].dropna()) == {"STOP"}


def test_cluster_bad_file(client, fleet, tmp_path):
    bad = tmp_path / "bad.qmp"
    bad.write_bytes(b'{"return": {}}\n{"return": [1,,2]}\n')
    with pytest.raises(DecodeError, match=f"{bad}: invalid JSON at byte 29"):
        read_qmp(fleet + [str(bad)]).compute()
    skipped = read_qmp([str(bad)], on_error="skip").compute()
    assert list(skipped["kind"]) == ["return"]
