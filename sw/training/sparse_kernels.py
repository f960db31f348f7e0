"""``sparse_kernels``: a linear layer over sparse (spike) inputs in compiled C, loaded with ctypes.

Spike trains are binary and mostly zero, so ``x @ W.T`` only needs the weight columns of
the active inputs, and the weight gradient ``g.T @ x`` only the output-gradient rows of
each input's active samples.  The kernels here:

* ``to_csr(x)``: the non-zeros of a 2-D ``x`` (float32, float64, or a bool spike train read
  8 bytes at a time) as compressed rows (``rowptr``, column indices, and the values unless
  every non-zero is 1), in two passes over the flat array: a count (after which a caller's
  ``max_density`` can stop it), then a fill that skips zero blocks;
* ``csr_linear``: ``x @ W.T + b`` as a gather-add of rows of ``W.T`` (``(in, out)``,
  contiguous), 64 outputs at a time so one tile of ``W.T`` stays in the L2 cache and the
  accumulators in registers;
* ``csr_weight_grad``: ``(g.T @ x).T`` as a scatter-add of rows of ``g``, tiled the same way.

The output tiles are split over ``torch.get_num_threads()`` POSIX threads.  Sums run in
the order of the active inputs (not a dense matmul's blocking), so results equal the dense
ones to float rounding, not bit for bit; with binary inputs there are no multiplies at all.

The source is built once per machine by ``sw.training.c_build`` (``-O3 -march=native``,
``~/.cache/snn-ice40/sparse-kernels/``); ``SNN_SPARSE_KERNELS=off`` turns it off, and
where it cannot build ``sw.training.sparse`` uses torch's ``embedding_bag``.
"""

from __future__ import annotations

import contextlib
import ctypes
from dataclasses import dataclass

import torch
from torch import Tensor

from sw.training import c_build

__all__ = ["Csr", "available", "kernels_disabled", "takes", "to_csr", "csr_linear", "csr_weight_grad"]

TILE = 64
"""Outputs per tile (measured on 512-wide layers: 64 and 128 alike, 32 slower)."""

_COMMON = r"""
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#define TILE @TILE@
#define MAXTHREADS 64
typedef void (*range_fn)(void *job, long j0, long j1);
typedef struct { range_fn fn; void *job; long j0, j1; } part_t;
static void *part_main(void *p) { part_t *q = (part_t *)p; q->fn(q->job, q->j0, q->j1); return NULL; }
/* Split the output columns [0, N) into whole tiles over nthreads threads. */
static void run_tiles(range_fn fn, void *job, long N, int nthreads) {
    long tiles = (N + TILE - 1) / TILE;
    if (nthreads > tiles) nthreads = (int)tiles;
    if (nthreads > MAXTHREADS) nthreads = MAXTHREADS;
    if (nthreads <= 1) { fn(job, 0, N); return; }
    part_t parts[MAXTHREADS]; pthread_t th[MAXTHREADS]; int started[MAXTHREADS];
    for (int t = 0; t < nthreads; ++t) {
        long e = (tiles * (t + 1) / nthreads) * TILE;
        parts[t].fn = fn; parts[t].job = job;
        parts[t].j0 = (tiles * t / nthreads) * TILE; parts[t].j1 = e < N ? e : N;
    }
    for (int t = 1; t < nthreads; ++t) started[t] = pthread_create(&th[t], NULL, part_main, &parts[t]) == 0;
    fn(job, parts[0].j0, parts[0].j1);
    for (int t = 1; t < nthreads; ++t) {
        if (started[t]) pthread_join(th[t], NULL);
        else fn(job, parts[t].j0, parts[t].j1);  /* no thread: do that part here */
    }
}
"""

_TYPED = r"""
/* The number of non-zeros of x (R, C), over the flat array; *binary: all are 1. */
long csr_count_@S@(const @T@ *x, long R, long C, int *binary) {
    const long n = R * C; long nnz = 0; int bin = 1;
    for (long i = 0; i < n; ++i) { @T@ v = x[i]; nnz += (v != 0); bin &= (v == 0) | (v == 1); }
    *binary = bin; return nnz;
}
/* The non-zeros of x[i0:i1] into col (and val); rows advanced as needed; branch-free
   within one row (col and val hold nnz + 1 entries: that loop writes one past the last
   non-zero). */
static inline void fill_block_@S@(const @T@ *x, long i0, long i1, long C, long *k_, long *r_,
                                  long *start_, long *rowptr, int *col, @T@ *val) {
    long k = *k_, r = *r_, start = *start_;
    while (i0 >= start + C) { rowptr[++r] = k; start += C; }
    if (i1 <= start + C) {
        if (val) { for (long i = i0; i < i1; ++i) { col[k] = (int)(i - start); val[k] = x[i]; k += (x[i] != 0); } }
        else     { for (long i = i0; i < i1; ++i) { col[k] = (int)(i - start); k += (x[i] != 0); } }
    } else {
        for (long i = i0; i < i1; ++i) {
            if (x[i] == 0) continue;
            while (i >= start + C) { rowptr[++r] = k; start += C; }
            col[k] = (int)(i - start); if (val) val[k] = x[i]; ++k;
        }
    }
    *k_ = k; *r_ = r; *start_ = start;
}
/* rowptr (R + 1) and the column indices (and values, if val) of the non-zeros, over the
   flat array in blocks of 16 (a zero block is skipped). */
void csr_fill_@S@(const @T@ *x, long R, long C, long *rowptr, int *col, @T@ *val) {
    const long n = R * C; long k = 0, r = 0, start = 0, i0 = 0;  /* row r: [start, start + C) */
    rowptr[0] = 0;
    for (; i0 + 16 <= n; i0 += 16) {
        int any = 0;
        for (int q = 0; q < 16; ++q) any |= (x[i0 + q] != 0);
        if (any) fill_block_@S@(x, i0, i0 + 16, C, &k, &r, &start, rowptr, col, val);
    }
    if (i0 < n) fill_block_@S@(x, i0, n, C, &k, &r, &start, rowptr, col, val);
    while (r < R) rowptr[++r] = k;
}
typedef struct { const long *rp; const int *col; const @T@ *val; const @T@ *src; const @T@ *b;
                 @T@ *out; long R, C, N; } job_@S@;
/* One full tile of one row, binary inputs, in explicit vectors (GCC/Clang vector
   extension: left to itself GCC vectorises this loop nest across k, with gathers). */
typedef @T@ vec_@S@ __attribute__((vector_size(64), aligned(sizeof(@T@)), may_alias));
#define NV_@S@ (TILE * (int)sizeof(@T@) / 64)
static inline void linear_tile_bin_@S@(const int *col, long k0, long k1, const @T@ *src, long N,
                                       long j, const @T@ *b, @T@ *out) {
    vec_@S@ acc[NV_@S@];
#pragma GCC unroll 16
    for (int v = 0; v < NV_@S@; ++v) acc[v] = b ? ((const vec_@S@ *)(b + j))[v] : (vec_@S@){0};
    for (long k = k0; k < k1; ++k) {
        const vec_@S@ *s = (const vec_@S@ *)(src + (long)col[k] * N + j);
#pragma GCC unroll 16
        for (int v = 0; v < NV_@S@; ++v) acc[v] += s[v];
    }
#pragma GCC unroll 16
    for (int v = 0; v < NV_@S@; ++v) ((vec_@S@ *)out)[v] = acc[v];
}
/* A tile of w <= TILE outputs of one row, any values (val NULL: all 1). */
static void linear_tile_@S@(const int *col, const @T@ *val, long k0, long k1, const @T@ *src,
                            long N, long j, long w, const @T@ *b, @T@ *out) {
    @T@ acc[TILE];
    for (long i = 0; i < w; ++i) acc[i] = b ? b[j + i] : (@T@)0;
    if (k0 == k1) { for (long i = 0; i < w; ++i) out[i] = acc[i]; return; }  /* an empty row */
    for (long k = k0; k < k1; ++k) {
        const @T@ *s = src + (long)col[k] * N + j;
        const @T@ v = val ? val[k] : (@T@)1;
        for (long i = 0; i < w; ++i) acc[i] += v * s[i];
    }
    for (long i = 0; i < w; ++i) out[i] = acc[i];
}
/* out[r, j0:j1] = b + sum_k val[k] * wt[col[k], j0:j1] over row r's non-zeros. */
static void linear_range_@S@(void *p, long j0, long j1) {
    const job_@S@ *J = (const job_@S@ *)p; const long N = J->N;
    if (j0 == 0 && j1 == N && N < TILE) {  /* a narrow layer: rows start as the bias */
        const @T@ *b = J->b; @T@ *out = J->out; const long R = J->R;
        if (b) { for (long r = 0; r < R; ++r) for (long i = 0; i < N; ++i) out[r * N + i] = b[i]; }
        else memset(out, 0, (size_t)(R * N) * sizeof(@T@));
        for (long r = 0; r < R; ++r) {
            if (J->rp[r] == J->rp[r + 1]) continue;  /* an empty row: the bias */
            @T@ *o = out + r * N;
            for (long k = J->rp[r]; k < J->rp[r + 1]; ++k) {
                const @T@ *s = J->src + (long)J->col[k] * N; const @T@ v = J->val ? J->val[k] : (@T@)1;
                for (long i = 0; i < N; ++i) o[i] += v * s[i];
            }
        }
        return;
    }
    for (long j = j0; j < j1; j += TILE) {
        const long w = j1 - j < TILE ? j1 - j : TILE;
        for (long r = 0; r < J->R; ++r) {
            if (w == TILE && !J->val)
                linear_tile_bin_@S@(J->col, J->rp[r], J->rp[r + 1], J->src, N, j, J->b, J->out + r * N + j);
            else
                linear_tile_@S@(J->col, J->val, J->rp[r], J->rp[r + 1], J->src, N, j, w, J->b,
                                J->out + r * N + j);
        }
    }
}
/* out[c, j0:j1] = sum over the non-zeros (r, c) of val * g[r, j0:j1]  (out: (C, N)). */
static void wgrad_range_@S@(void *p, long j0, long j1) {
    const job_@S@ *J = (const job_@S@ *)p; const long N = J->N;
    for (long j = j0; j < j1; j += TILE) {
        const long w = j1 - j < TILE ? j1 - j : TILE;
        if (w == N) memset(J->out, 0, (size_t)(J->C * N) * sizeof(@T@));  /* one tile: all of it */
        else for (long c = 0; c < J->C; ++c) memset(J->out + c * N + j, 0, (size_t)w * sizeof(@T@));
        for (long r = 0; r < J->R; ++r) {
            const long k0 = J->rp[r], k1 = J->rp[r + 1];
            if (k0 == k1) continue;  /* an empty row adds nothing */
            const @T@ *gp = J->src + r * N + j;
            if (w == TILE && !J->val) {
                vec_@S@ gv[NV_@S@];
#pragma GCC unroll 16
                for (int v = 0; v < NV_@S@; ++v) gv[v] = ((const vec_@S@ *)gp)[v];
                for (long k = k0; k < k1; ++k) {
                    vec_@S@ *o = (vec_@S@ *)(J->out + (long)J->col[k] * N + j);
#pragma GCC unroll 16
                    for (int v = 0; v < NV_@S@; ++v) o[v] += gv[v];
                }
            } else {
                for (long k = k0; k < k1; ++k) {
                    @T@ *o = J->out + (long)J->col[k] * N + j;
                    const @T@ v = J->val ? J->val[k] : (@T@)1;
                    for (long i = 0; i < w; ++i) o[i] += v * gp[i];
                }
            }
        }
    }
}
void csr_linear_@S@(const long *rp, const int *col, const @T@ *val, const @T@ *wt, const @T@ *b,
                    @T@ *out, long R, long N, int nthreads) {
    job_@S@ J = {rp, col, val, wt, b, out, R, 0, N};
    run_tiles(linear_range_@S@, &J, N, nthreads);
}
void csr_weight_grad_@S@(const long *rp, const int *col, const @T@ *val, const @T@ *g, @T@ *out,
                         long R, long C, long N, int nthreads) {
    job_@S@ J = {rp, col, val, g, NULL, out, R, C, N};
    run_tiles(wgrad_range_@S@, &J, N, nthreads);
}
"""

_BOOL = r"""
/* The same for a bool (0/1 byte) x: always binary, no values; 8 bytes at a time (the
   popcount of a word of 0/1 bytes is its number of ones). */
#include <stdint.h>
static inline uint64_t word_b8(const unsigned char *p) { uint64_t w; memcpy(&w, p, 8); return w; }
long csr_count_b8(const unsigned char *x, long R, long C, int *binary) {
    const long n = R * C; long nnz = 0, i = 0;
    for (; i + 8 <= n; i += 8) nnz += __builtin_popcountll(word_b8(x + i));
    for (; i < n; ++i) nnz += (x[i] != 0);
    *binary = 1; return nnz;
}
/* The non-zeros of x[i0:i1] (within one 8-byte word) into col; rows advanced as needed. */
static inline void fill_word_b8(const unsigned char *x, long i0, long i1, long C, long *k_, long *r_,
                                long *start_, long *rowptr, int *col) {
    long k = *k_, r = *r_, start = *start_;
    while (i0 >= start + C) { rowptr[++r] = k; start += C; }
    if (i1 <= start + C) {
        for (long i = i0; i < i1; ++i) { col[k] = (int)(i - start); k += (x[i] != 0); }
    } else {
        for (long i = i0; i < i1; ++i) {
            if (!x[i]) continue;
            while (i >= start + C) { rowptr[++r] = k; start += C; }
            col[k] = (int)(i - start); ++k;
        }
    }
    *k_ = k; *r_ = r; *start_ = start;
}
/* Zero runs are skipped 64 bytes, then 8 bytes at a time. */
void csr_fill_b8(const unsigned char *x, long R, long C, long *rowptr, int *col, void *val) {
    const long n = R * C; long k = 0, r = 0, start = 0, i0 = 0;
    (void)val; rowptr[0] = 0;
    for (; i0 + 64 <= n; i0 += 64) {
        uint64_t w[8], any = 0;
        for (int q = 0; q < 8; ++q) { w[q] = word_b8(x + i0 + 8 * q); any |= w[q]; }
        if (!any) continue;
        for (int q = 0; q < 8; ++q)
            if (w[q]) fill_word_b8(x, i0 + 8 * q, i0 + 8 * q + 8, C, &k, &r, &start, rowptr, col);
    }
    if (i0 < n) fill_word_b8(x, i0, n, C, &k, &r, &start, rowptr, col);  /* the tail: < 64 */
    while (r < R) rowptr[++r] = k;
}
"""

_SOURCE = (_COMMON.replace("@TILE@", str(TILE)) + _BOOL
           + _TYPED.replace("@T@", "float").replace("@S@", "f32")
           + _TYPED.replace("@T@", "double").replace("@S@", "f64"))
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared",
          "-pthread"]
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, L, i = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    for suf in _SUFFIX.values():
        getattr(lib, f"csr_count_{suf}").argtypes = [p, L, L, p]
        getattr(lib, f"csr_count_{suf}").restype = L
        getattr(lib, f"csr_fill_{suf}").argtypes = [p, L, L, p, p, p]
        getattr(lib, f"csr_linear_{suf}").argtypes = [p, p, p, p, p, p, L, L, i]
        getattr(lib, f"csr_weight_grad_{suf}").argtypes = [p, p, p, p, p, L, L, L, i]
        for name in ("csr_fill", "csr_linear", "csr_weight_grad"):
            getattr(lib, f"{name}_{suf}").restype = None
    lib.csr_count_b8.argtypes, lib.csr_count_b8.restype = [p, L, L, p], L
    lib.csr_fill_b8.argtypes, lib.csr_fill_b8.restype = [p, L, L, p, p, p], None
    return lib


_KERNELS = c_build.CompiledLibrary(_SOURCE, _FLAGS, "sparse-kernels", _declare, "sparse linear",
                                   "SNN_SPARSE_KERNELS")
_lib = _KERNELS.get


def available() -> bool:
    """Whether the compiled kernels are loaded (building them on first call)."""
    return _lib() is not None


def kernels_disabled() -> contextlib.AbstractContextManager[None]:
    """``with kernels_disabled():`` makes ``sw.training.sparse`` use its torch path."""
    return _KERNELS.disabled()


@dataclass(frozen=True)
class Csr:
    """The non-zeros of a ``(rows, cols)`` matrix: ``rowptr (rows + 1)``, ``col`` (int32) and
    ``val`` (``None`` when every non-zero is 1); ``nnz`` of them; ``dtype``: the matrix's
    (``torch.bool`` for a spike train kept as bool)."""

    rowptr: Tensor
    col: Tensor
    val: Tensor | None
    nnz: int
    shape: tuple[int, int]
    dtype: torch.dtype

    @property
    def density(self) -> float:
        """The fraction of non-zero entries."""
        return self.nnz / max(self.shape[0] * self.shape[1], 1)


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def takes(x: Tensor) -> bool:
    """Whether ``to_csr`` takes ``x``: the kernels are loaded and ``x`` is a contiguous 2-D
    float32/float64/bool CPU tensor."""
    return (x.dim() == 2 and x.device.type == "cpu" and x.dtype in (*_SUFFIX, torch.bool)
            and x.is_contiguous() and x.shape[1] < 2 ** 31 and _lib() is not None)


def to_csr(x: Tensor, max_density: float | None = None) -> Csr | None:
    """The non-zeros of a contiguous 2-D float32/float64/bool CPU tensor, or ``None`` where
    the kernels are off or do not take ``x``, or (after the counting pass, before the
    filling one) where its fraction of non-zeros is not below ``max_density``."""
    if not takes(x):
        return None
    lib = _lib()
    suf = _SUFFIX.get(x.dtype, "b8")
    R, C = x.shape
    rowptr = torch.empty(R + 1, dtype=torch.long)
    binary = ctypes.c_int(0)
    nnz = getattr(lib, f"csr_count_{suf}")(x.data_ptr(), R, C, ctypes.byref(binary))
    if max_density is not None and nnz >= max_density * R * C:
        return None
    col = torch.empty(nnz + 1, dtype=torch.int32)
    val = None if binary.value else torch.empty(nnz + 1, dtype=x.dtype)
    getattr(lib, f"csr_fill_{suf}")(x.data_ptr(), R, C, rowptr.data_ptr(), col.data_ptr(), _ptr(val))
    return Csr(rowptr, col, val, int(nnz), (R, C), x.dtype)


def _check(x: Csr, dtype: torch.dtype) -> None:
    if dtype not in _SUFFIX or (x.dtype != torch.bool and x.dtype != dtype):
        raise TypeError(f"sparse kernels: a {x.dtype} input with {dtype} weights or gradients "
                        "(float32/float64, the input's own dtype unless it is bool)")


def csr_linear(x: Csr, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias`` for ``x`` in compressed rows; ``weight (out, in)`` float32 or
    float64 (``x``'s dtype where ``x`` is not bool), ``bias`` the same."""
    lib = _lib()
    assert lib is not None, "to_csr returned a Csr, so the kernels are loaded"
    _check(x, weight.dtype)
    wt = weight.detach().t().contiguous()
    b = None if bias is None else bias.detach().to(weight.dtype).contiguous()
    out = torch.empty(x.shape[0], weight.shape[0], dtype=weight.dtype)
    getattr(lib, f"csr_linear_{_SUFFIX[weight.dtype]}")(
        x.rowptr.data_ptr(), x.col.data_ptr(), _ptr(x.val), wt.data_ptr(), _ptr(b), out.data_ptr(),
        x.shape[0], weight.shape[0], torch.get_num_threads())
    return out


def csr_weight_grad(g: Tensor, x: Csr) -> Tensor:
    """``g.T @ x`` (the weight gradient, ``(out, in)``) for ``g (rows, out)``; returned as
    the transpose of a contiguous ``(in, out)`` tensor."""
    lib = _lib()
    assert lib is not None, "to_csr returned a Csr, so the kernels are loaded"
    _check(x, g.dtype)
    g = g.contiguous()
    out = torch.empty(x.shape[1], g.shape[1], dtype=g.dtype)
    getattr(lib, f"csr_weight_grad_{_SUFFIX[g.dtype]}")(
        x.rowptr.data_ptr(), x.col.data_ptr(), _ptr(x.val), g.data_ptr(), out.data_ptr(),
        x.shape[0], x.shape[1], g.shape[1], torch.get_num_threads())
    return out.t()

