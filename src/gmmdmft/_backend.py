"""Array backends for the DMFT iterations: numpy (default) or PyTorch (CPU or CUDA).

The fast iterations (:func:`gmmdmft.dmft.lagged.lagged_sweep`, :func:`gmmdmft.dmft.response.response_estimate`)
are written once against the few operations below; numpy arrays and torch tensors share the
rest (slicing, views, in-place arithmetic, ``@``). Random numbers are always drawn by numpy on
the host and copied, so a seed gives the same draws on every backend, and in float64 the
backends agree to rounding (tested). The small T x T work (Cholesky of M_C, the two-time
functions) stays in numpy.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.special import expit as _expit

from ._blas import one_blas_thread
from ._validation import ParameterError

BACKENDS = ("numpy", "torch")
DEVICES = ("cpu", "cuda")


class NumpyBackend:
    """numpy arrays on the host; BLAS limited to one thread in the time loops (see _blas)."""

    name = "numpy"
    device = "cpu"

    def dtype(self, name):
        return np.dtype(name)

    def asarray(self, x, dtype=None):
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def item(self, x) -> float:
        return float(x)

    def buffer(self, work: dict | None, name: str, shape, dtype):
        """A zero-filled array, kept in ``work`` across iterations: on this machine the first
        touch of fresh pages costs about as much as the arithmetic done on them."""
        dtype = self.dtype(dtype)
        if work is None:
            return np.zeros(shape, dtype=dtype)
        buf = work.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = work[name] = np.zeros(shape, dtype=dtype)
        return buf

    def normal(self, rng, work, name, shape):
        """Standard normals (float64) drawn by ``rng`` on the host."""
        out = self.buffer(work, name, shape, "float64")
        rng.standard_normal(out=out)
        return out

    def expit(self, v):
        return _expit(v)

    def log(self, v):
        with np.errstate(divide="ignore"):
            return np.log(v)

    def exp(self, v):
        return np.exp(v)

    def relu(self, v):
        """max(v, 0)."""
        return np.maximum(v, 0.0)

    def step(self, v):
        """1.0 where v > 0, else 0.0."""
        return (v > 0).astype(float)

    def is_array(self, x) -> bool:
        return isinstance(x, np.ndarray)

    def einsum(self, spec, *ops):
        return np.einsum(spec, *ops)

    def matmul_into(self, a, b, out):
        """out[...] = a @ b, with ``out`` a (strided) view whose trailing axes are merged to
        match b's columns; numpy's BLAS writes into the view directly (no temporary)."""
        np.matmul(a, b, out=out.reshape(a.shape[0], b.shape[1]))

    def small_products(self):
        return one_blas_thread()

    def available_memory(self) -> int | None:
        return None  # the host's, checked by the caller


class TorchBackend(NumpyBackend):
    """torch tensors on ``device`` ("cpu" or "cuda")."""

    name = "torch"

    def __init__(self, device: str):
        import torch

        self.torch = torch
        self.device = device
        self._dev = torch.device(device)

    def dtype(self, name):
        return getattr(self.torch, np.dtype(name).name)

    def asarray(self, x, dtype=None):
        t = self.torch
        if isinstance(x, t.Tensor):
            return x.to(device=self._dev, dtype=self.dtype(dtype) if dtype else x.dtype)
        arr = np.asarray(x, dtype=dtype)
        return t.from_numpy(np.ascontiguousarray(arr)).to(self._dev)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def item(self, x) -> float:
        return float(x.item()) if hasattr(x, "item") else float(x)

    def buffer(self, work, name, shape, dtype):
        dtype = self.dtype(dtype)
        if work is None:
            return self.torch.zeros(tuple(shape), dtype=dtype, device=self._dev)
        buf = work.get(name)
        if buf is None or tuple(buf.shape) != tuple(shape) or buf.dtype != dtype:
            work.pop(name, None)
            buf = work[name] = self.torch.zeros(tuple(shape), dtype=dtype, device=self._dev)
        return buf

    def normal(self, rng, work, name, shape):
        host = NUMPY.normal(rng, work, name + "_host", shape)
        out = self.buffer(work, name, shape, "float64")
        out.copy_(self.torch.from_numpy(host))
        return out

    def expit(self, v):
        return self.torch.sigmoid(v)

    def log(self, v):
        return self.torch.log(v)

    def exp(self, v):
        return self.torch.exp(v)

    def relu(self, v):
        return self.torch.clamp(v, min=0.0)

    def step(self, v):
        return (v > 0).to(v.dtype)

    def is_array(self, x) -> bool:
        return isinstance(x, self.torch.Tensor)

    def einsum(self, spec, *ops):
        return self.torch.einsum(spec, *ops)

    def matmul_into(self, a, b, out):
        out.copy_((a @ b).reshape(out.shape))

    def small_products(self):
        return contextlib.nullcontext()

    def available_memory(self) -> int | None:
        if self.device == "cuda":
            free, _ = self.torch.cuda.mem_get_info()
            return int(free)
        return None


NUMPY = NumpyBackend()


def get_backend(backend: str | None = None, device: str = "cpu"):
    """The backend object for (backend, device); a one-line ParameterError when unavailable.
    ``backend`` None: numpy on the cpu, torch on cuda."""
    if device in DEVICES and backend is None:
        backend = "numpy" if device == "cpu" else "torch"
    if backend not in BACKENDS:
        raise ParameterError(f"backend = {backend!r} is not one of: {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise ParameterError(f"device = {device!r} is not one of: {', '.join(DEVICES)}")
    if backend == "numpy":
        if device != "cpu":
            raise ParameterError(f"device = {device!r} needs backend = 'torch' (numpy runs on the cpu only)")
        return NUMPY
    try:
        import torch
    except ImportError:
        raise ParameterError("backend = 'torch' is not available: PyTorch is not installed "
                             "(pip install 'gmmdmft[torch]')") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device = 'cuda' is not available: PyTorch finds no CUDA device "
                             f"(torch {torch.__version__})")
    return TorchBackend(device)
