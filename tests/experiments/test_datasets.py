import gzip
import hashlib
import http.server
import pickle
import statistics
import struct
import threading

import numpy as np
import pytest

from overparam.experiments import datasets as ds


def write_idx(path, arr, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f8"): 0x0E}
    a = np.asarray(arr)
    a = a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a
    head = bytes([0, 0, codes[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    data = head + a.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("arr", [np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
                                 np.array([-7, 1, 70000], dtype=">i4"),
                                 np.array([[0.5, -2.25]], dtype=">f8")])
def test_idx_round_trip(tmp_path, arr, gz):
    p = tmp_path / "x.idx"
    write_idx(p, arr, gz)
    np.testing.assert_array_equal(ds.read_idx(p), arr)


def test_idx_bad_files_raise(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX"):
        ds.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((2, 2), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says"):
        ds.read_idx(tmp_path / "short")


def test_idx_dataset_layout(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5).astype(np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    x, y = ds.load_fashion_mnist("test", root=tmp_path)
    assert x.shape == (5, 28, 28, 1) and y.dtype == np.int64
    np.testing.assert_array_equal(x[..., 0], imgs)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        ds.load_fashion_mnist("train", root=tmp_path)


@pytest.mark.skipif(not (ds.FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed here")
def test_real_fashion_mnist():
    x, y = ds.load_fashion_mnist("test")
    assert x.shape == (10_000, 28, 28, 1) and set(np.unique(y)) == set(range(10))


def test_mnist_5k_format(tmp_path):
    rows = np.hstack([np.arange(784)[None, :] % 256, [[7]]]).repeat(3, axis=0)
    p = tmp_path / "m.csv.gz"
    with gzip.open(p, "wt") as fh:
        np.savetxt(fh, rows, fmt="%d", delimiter=",")
    x, y = ds.load_mnist_5k(p)
    assert x.shape == (3, 28, 28, 1) and list(y) == [7, 7, 7]
    assert x[0, 1, 0, 0] == 28


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [1, 2, 3, 4]}, fh)
    x, y = ds.load_cifar10(tmp_path, "test")
    assert x.shape == (4, 32, 32, 3) and list(y) == [1, 2, 3, 4]
    # channel-major rows: the red plane comes first
    assert x[0, 0, 1, 0] == data[0, 1] and x[0, 0, 0, 1] == data[0, 1024]


def test_ic_standardisation_by_hand():
    np.testing.assert_allclose(ds.standardize_ic(np.array([0, 255])),
                               [-0.1307 / 0.3081, (1 - 0.1307) / 0.3081], rtol=1e-15)


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    payload = b""
    served: list = []

    def do_GET(self):  # noqa: N802 - the http.server API
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.served.append(len(body))

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _RangeHandler.payload = np.random.default_rng(2).bytes(200_000)
    _RangeHandler.served = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _RangeHandler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/file", _RangeHandler
    httpd.shutdown()


def test_download_resume_checksum_and_reuse(server, tmp_path):
    url, handler = server
    digest = hashlib.sha256(handler.payload).hexdigest()
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(handler.payload[:50_000])  # an interrupted run
    assert ds.download(url, dest, digest).read_bytes() == handler.payload
    assert handler.served == [150_000]  # only the missing part was fetched
    assert not (tmp_path / "f.bin.part").exists()
    ds.download(url, dest, digest)
    assert handler.served == [150_000]  # already there with the right checksum
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        ds.download(url, tmp_path / "g.bin", "0" * 64)
    assert not (tmp_path / "g.bin.part").exists() and not (tmp_path / "g.bin").exists()


def test_ic_test_inputs_are_standardised_and_exclude_the_training_image():
    inputs, missing = ds.ic_test_inputs(3)
    for name in ("checkerboard", "stripes", "gradient", "noise"):
        assert name in inputs
    # a pattern pixel of 1 ↦ (1 − 0.1307)/0.3081 by IC App. A, by hand
    assert inputs["checkerboard"].max() == (1 - 0.1307) / 0.3081  # the same operations
    assert all(v.shape == (28, 28) and v.dtype == np.float64 for v in inputs.values())
    for source, key in {"MNIST": "MNIST 1", "Fashion": "Fashion 1"}.items():
        assert (key in inputs) != any(m.startswith(source) for m in missing)
    if "MNIST 1" in inputs:
        x = ds.standardize_ic(ds.load_mnist_5k()[0][..., 0])
        drawn = int(np.flatnonzero((x == inputs["MNIST 1"]).all(axis=(1, 2)))[0])
        again, _ = ds.ic_test_inputs(3, exclude=drawn)
        assert not any(np.array_equal(v, x[drawn]) for v in again.values())


def _idx_pair(root, images, labels, prefix="t10k"):
    write_idx(root / f"{prefix}-images-idx3-ubyte", images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte", labels)


def test_idx_loader_refuses_a_labels_file_passed_as_images(tmp_path):
    labels = np.arange(5, dtype=np.uint8)
    _idx_pair(tmp_path, labels, labels)  # the labels file copied over the images file
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected uint8 images of "
                                         r"shape \(N, 28, 28\), got uint8 of shape \(5,\)"):
        ds.load_idx_dataset(tmp_path, "test")


def test_idx_loader_refuses_float_images(tmp_path):
    _idx_pair(tmp_path, np.zeros((2, 28, 28), dtype=">f8"), np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte: expected uint8 images"):
        ds.load_idx_dataset(tmp_path, "test")


def test_idx_loader_refuses_column_labels_and_bad_counts(tmp_path):
    imgs = np.zeros((3, 28, 28), np.uint8)
    _idx_pair(tmp_path, imgs, np.zeros((3, 1), np.uint8))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: expected 1-D integer "
                                         r"labels, got uint8 of shape \(3, 1\)"):
        ds.load_idx_dataset(tmp_path, "test")
    _idx_pair(tmp_path, imgs, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: 3 images but 2 labels"):
        ds.load_idx_dataset(tmp_path, "test")
    _idx_pair(tmp_path, imgs, np.array([0, 10, 1], np.uint8))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 10\)"):
        ds.load_idx_dataset(tmp_path, "test")


def test_mnist_5k_refuses_pixels_that_would_wrap(tmp_path):
    # pixel 300 used to become 300 mod 256 = 44
    rows = np.hstack([np.zeros((2, 784), int), [[7], [1]]])
    rows[0, 5] = 300
    p = tmp_path / "m.csv"
    np.savetxt(p, rows, fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match=r"m.csv: expected pixels in \[0, 255\], got values "
                                         r"in \[0, 300\]"):
        ds.load_mnist_5k(p)
    rows[0, 5], rows[1, 784] = 3, -1
    np.savetxt(p, rows, fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match=r"m.csv: expected labels in \[0, 10\)"):
        ds.load_mnist_5k(p)


def _cifar(tmp_path, data, labels, name="test_batch"):
    with open(tmp_path / name, "wb") as fh:
        pickle.dump({b"data": data, b"labels": labels}, fh)


@pytest.mark.parametrize("data, labels, match", [
    # fewer labels than images: the images and labels would be misaligned
    (np.zeros((4, 3072), np.uint8), [1, 2, 3], "4 images but 3 labels"),
    # stored as (N, 32, 32, 3): reshaping it channel-major would scramble the pixels
    (np.zeros((4, 32, 32, 3), np.uint8), [1, 2, 3, 4], r"expected data of shape \(N, 3072\)"),
    # float pixels in [0, 1] would be truncated to 0/1 by the uint8 conversion
    (np.full((4, 3072), 0.5), [1, 2, 3, 4], "expected integer pixels"),
    (np.full((4, 3072), 256), [1, 2, 3, 4], r"expected pixels in \[0, 255\]"),
    (np.zeros((4, 3072), np.uint8), [1, 2, 3, 10], r"expected labels in \[0, 10\)"),
])
def test_cifar10_refuses_inconsistent_batches_naming_file_and_batch(tmp_path, data, labels,
                                                                    match):
    _cifar(tmp_path, data, labels)
    with pytest.raises(ValueError, match=r"test_batch \(batch test_batch\): .*" + match):
        ds.load_cifar10(tmp_path, "test")


def test_cifar10_split_is_checked():
    # "tset" used to load the test set
    with pytest.raises(ValueError, match=r"^split: expected one of \('train', 'test'\)"):
        ds.load_cifar10("/nonexistent", "tset")
    with pytest.raises(ValueError, match="^split: expected one of"):
        ds.load_idx_dataset("/nonexistent", "validation")


@pytest.mark.parametrize("bad, match", [
    (np.array([0.0, np.nan]), "^images: expected finite values"),
    (np.array([-1, 255]), r"^images: expected pixels in \[0, 255\]"),
    (np.array([0, 256]), r"^images: expected pixels in \[0, 255\]"),
    (np.array([], float), "^images: expected a non-empty array"),
])
def test_standardisation_refuses_nan_and_out_of_range_pixels(bad, match):
    with pytest.raises(ValueError, match=match):
        ds.standardize_ic(bad)


def test_download_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="^sha256: expected 64 hexadecimal digits"):
        ds.download("http://127.0.0.1:9/x", tmp_path / "x", "abc")
    with pytest.raises(ValueError, match="^chunk: expected a value >= 1"):
        ds.download("http://127.0.0.1:9/x", tmp_path / "x", "0" * 64, chunk=0)


def test_per_image_standardization_by_hand():
    images = np.array([[[0, 2]], [[5, 5]]])  # (2, 1, 2): d = 2
    out = ds.per_image_standardization(images)
    # mean 1, std 1 → (−1, 1); a constant image has std 0 < 1/√2 → all zeros
    assert out.tolist() == [[-1.0, 1.0], [0.0, 0.0]]
    # (1, 2, 3, 6): mean 3, population std √(14/4) above the floor ½; each value
    # (x − 3)/std from the statistics module's own mean and pstdev
    x = [1.0, 2.0, 3.0, 6.0]
    want = [(v - statistics.fmean(x)) / statistics.pstdev(x) for v in x]
    got = ds.per_image_standardization(np.array(x).reshape(1, 2, 2, 1))
    # a few roundings of values of size ≤ 6: 8u relative
    np.testing.assert_allclose(got[0], want, rtol=8 * 2.0**-53, atol=8 * 2.0**-53)
    with pytest.raises(ValueError, match="^images"):
        ds.per_image_standardization(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="^images: expected a batch"):
        ds.per_image_standardization(np.array([1.0, 2.0]))
