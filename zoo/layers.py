"""Plain-PyTorch building blocks shared by the escnn models and their exported twins.

Nothing here imports escnn: the exported models (``model.export()``) are built from these modules and
``torch.nn`` alone, so deploying a model never needs escnn.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BlurPool2d", "GroupMaxPool", "grid_max", "FourierELU", "fourier_elu", "fourier_elu_reference",
           "channels_last", "check_images", "check_num_classes"]


class BlurPool2d(nn.Module):
    """Anti-aliased stride-2 downsampling whose sampling grid is symmetric under rot90 and flips.

    Each channel is blurred with a separable binomial filter and sampled with stride 2. The filter is
    chosen per axis by the parity of the input size: ``[1, 2, 1] / 4`` centred on even pixels for odd
    sizes and ``[1, 3, 3, 1] / 8`` centred between pixels for even sizes. Either way the output samples
    sit symmetrically in the image, so rotating the input by 90 degrees (or flipping it) rotates (flips)
    the output exactly, for 28x28 and 29x29 inputs alike. Output size: ``ceil(n / 2)`` per axis.
    The same filter acts on every channel, so it commutes with any action of the group on the fibres.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("odd", torch.tensor([1.0, 2.0, 1.0]) / 4, persistent=False)
        self.register_buffer("even", torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        kh = self.even if height % 2 == 0 else self.odd
        kw = self.even if width % 2 == 0 else self.odd
        kernel = torch.outer(kh, kw).to(x.dtype)
        kernel = kernel.expand(channels, 1, kernel.shape[0], kernel.shape[1])
        return F.conv2d(x, kernel, stride=2, padding=1, groups=channels)  # zero padding, in the convolution


class GroupMaxPool(nn.Module):
    """Invariant pooling over the group: (B, F*d, H, W) fields -> (B, F, H, W) scalars.

    ``grid`` is an (N, d) matrix sampling each d-dimensional field on N group elements; the pool takes
    the maximum over those samples. With ``grid=None`` the d channels of a field already are its samples
    (regular fields of a finite group), as in escnn's ``GroupPooling``.
    """

    def __init__(self, fibre_dim: int, grid: torch.Tensor | None = None) -> None:
        super().__init__()
        self.fibre_dim = fibre_dim
        self.register_buffer("grid", grid if grid is not None else torch.empty(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if self.grid.numel() > 0:  # the fields as rows (a view when x is channels-last, as the SO(2) models run)
            rows = x.permute(0, 2, 3, 1).reshape(-1, self.fibre_dim)
            pooled = grid_max(rows, self.grid.to(x.device, x.dtype))
            return pooled.reshape(b, h, w, c // self.fibre_dim).permute(0, 3, 1, 2)
        x = x.reshape(b, c // self.fibre_dim, self.fibre_dim, h * w)
        return x.amax(dim=2).reshape(b, c // self.fibre_dim, h, w)


def grid_max(rows: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(n, d) fields -> (n,): the maximum of each field's samples on the grid, ``max(grid @ row)``.

    On a CPU, chunk by chunk like ``fourier_elu``: the (n, N) samples are never stored, and the gradient of a
    row is ``grid[k] * g`` for its maximal sample k (what ``max``'s backward routes, without the (n, N) zeros and
    the product back). Elsewhere, and when scripted, traced or compiled, the plain formula.
    """
    if (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
            or rows.device.type != "cpu" or grid.requires_grad):  # the chunks give the grid no gradient
        samples = rows @ grid.T
        # max's backward routes the gradient by index; amax's compares every sample with the maximum
        return samples.max(dim=1).values if samples.requires_grad else samples.amax(dim=1)
    return _grid_max_chunked(rows, grid)


@torch.jit.unused
def _grid_max_chunked(rows: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    grid = grid.to(rows.dtype)
    with torch.autocast(rows.device.type, enabled=False):  # in the input's dtype; out= has no autocast
        if torch.is_grad_enabled() and rows.requires_grad:
            return _GridMax.apply(rows, grid)
        return _grid_max_rows(rows, grid)[0]


def _grid_max_rows(rows: torch.Tensor, grid: torch.Tensor, indices: bool = False):
    """(maxima (n,), their grid indices (n,) if ``indices`` else None), chunk by chunk.

    Without indices the samples of a chunk are computed transposed, (N, rows), and reduced over their first
    dimension: torch reduces an (n, 16) matrix over its rows of 16 at a tenth of that speed (on an AVX2 CPU,
    0.22 against 0.02 ms for 8,192 rows: ``experiments/so2_kernels.py``). ``max`` with indices is slow either
    way, and slower still transposed.
    """
    n, size = len(rows), grid.shape[0]
    out = rows.new_empty(n)
    if not indices:
        flat, grid = rows.new_empty(size * _chunk_rows(n)), grid.contiguous()
        for fields, result in _chunks(rows, out):
            samples = flat[:size * len(fields)].view(size, len(fields))
            torch.mm(grid, fields.T, out=samples)
            torch.amax(samples, dim=0, out=result)
        return out, None
    where = torch.empty(n, dtype=torch.long, device=rows.device)
    (samples,), grid_T = _scratch(rows, size, count=1), grid.T.contiguous()
    for fields, result, at in _chunks(rows, out, where):
        s = _head(samples, len(fields))
        torch.mm(fields, grid_T, out=s)
        torch.max(s, dim=1, out=(result, at))
    return out, where


class _GridMax(torch.autograd.Function):
    """``_grid_max_rows`` with its gradient; saves the index of each row's maximal sample."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        out, where = _grid_max_rows(rows, grid, indices=True)
        ctx.save_for_backward(grid, where)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grid, where = ctx.saved_tensors
        return grid.index_select(0, where).mul_(grad.unsqueeze(1)), None


class FourierELU(nn.Module):
    """ELU applied on a grid of group elements: fields -> samples (``A``) -> ELU -> fields (``A_inv``).

    The plain-PyTorch twin of escnn's ``FourierELU``; ``A`` is (N, d) and ``A_inv`` is (d, N). Like the
    exported models' ``nn.ELU(inplace=True)``, it writes its result over its input when no gradient is recorded
    (``inplace``): a new buffer the size of the activations costs more than the nonlinearity itself.
    """

    def __init__(self, A: torch.Tensor, A_inv: torch.Tensor, inplace: bool = True, chunked: bool = True) -> None:
        super().__init__()
        self.inplace = inplace
        self.chunked = chunked  # False: the plain formula, every sample stored (fourier_elu_reference)
        self.register_buffer("A", A.detach().clone().contiguous())
        self.register_buffer("A_inv", A_inv.detach().clone().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.chunked:
            return fourier_elu_reference(x, self.A, self.A_inv)
        return fourier_elu(x, self.A, self.A_inv, self.inplace)


GRID_ROWS = 8192  # rows (one field at one pixel) per chunk and thread: two (8192, 16) fp32 sample blocks, 1 MB


def fourier_elu(x: torch.Tensor, A: torch.Tensor, A_inv: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``A_inv @ elu(A @ field)`` for every d-dimensional field of ``x`` (B, F*d, H, W) at every pixel.

    The fields of all pixels are the rows of one (B*H*W*F, d) matrix (a view when ``x`` is channels-last; the
    result is channels-last either way). The rows go through in chunks of ``GRID_ROWS`` per torch thread (each
    operation on a chunk is split between the threads, and so is the chunk): samples
    (rows, N) = rows @ A^T, ELU, and back through A_inv, all within the cache, so that only the fields travel
    to and from memory; the N samples per field are never stored, not even for the backward pass, which
    recomputes them chunk by chunk. ELU is written with ``exp2`` (vectorised) rather than torch's ``expm1``
    (one element at a time on CPUs). The chunks are for a CPU's caches: other devices (a GPU would launch a few
    kernels per chunk), scripting, tracing and compiling get the same function in plain operations
    (``fourier_elu_reference``). With ``inplace`` and no gradient recorded, the result overwrites ``x`` (on a
    CPU, when ``x`` is channels-last: otherwise its rows are a copy anyway).
    """
    if (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
            or x.device.type != "cpu"):
        return fourier_elu_reference(x, A, A_inv)
    return _fourier_elu_chunked(x, A, A_inv, inplace)


def fourier_elu_reference(x: torch.Tensor, A: torch.Tensor, A_inv: torch.Tensor) -> torch.Tensor:
    """``fourier_elu`` in plain operations, with every sample stored (what escnn computes)."""
    b, c, h, w = x.shape
    fields = x.reshape(b, c // A.shape[1], A.shape[1], h * w)
    samples = F.elu(A.to(x.dtype) @ fields, inplace=True)
    return (A_inv.to(x.dtype) @ samples).reshape(b, c, h, w)


@torch.jit.unused
def _fourier_elu_chunked(x: torch.Tensor, A: torch.Tensor, A_inv: torch.Tensor, inplace: bool) -> torch.Tensor:
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, A.shape[1])  # a view when x is channels-last
    A, A_inv = A.to(x.dtype), A_inv.to(x.dtype)
    with torch.autocast(x.device.type, enabled=False):  # in the input's dtype; out= has no autocast
        if torch.is_grad_enabled() and rows.requires_grad:
            out = _GridELU.apply(rows, A, A_inv)
        else:
            out = _grid_elu_rows(rows, A, A_inv, out=rows if inplace else None)
    return out.reshape(b, h, w, c).permute(0, 3, 1, 2)


def _chunk_rows(n: int) -> int:
    return min(n, GRID_ROWS * torch.get_num_threads())


def _chunks(*tensors: torch.Tensor):
    """The row chunks of equally long ``tensors``, side by side (views, made in one call per tensor)."""
    return zip(*(t.split(_chunk_rows(len(tensors[0]))) for t in tensors))


def _scratch(rows: torch.Tensor, columns: int, count: int = 2) -> list[torch.Tensor]:
    """``count`` (chunk rows, columns) buffers for the samples of one chunk."""
    return [rows.new_empty(_chunk_rows(len(rows)), columns) for _ in range(count)]


def _head(buffer: torch.Tensor, k: int) -> torch.Tensor:
    return buffer if len(buffer) == k else buffer[:k]


def _grid_elu_rows(rows: torch.Tensor, A: torch.Tensor, A_inv: torch.Tensor,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """(n, d) fields -> (n, d): A_inv @ elu(A @ row) for every row, chunk by chunk (into ``out``, which may be
    ``rows`` itself: a chunk is read before it is written)."""
    if out is None:
        out = torch.empty_like(rows, memory_format=torch.contiguous_format)
    samples, negative = _scratch(rows, A.shape[0])
    # the samples scaled by log2(e), for exp2: exp(min(z, 0)) = exp2(min(z log2(e), 0)); A_inv undoes the scale
    A_T, back = _scaled(A, LOG2E).T.contiguous(), _Paired(_scaled(A_inv, 1 / LOG2E).T.contiguous())
    minus_log2e = torch.tensor(-LOG2E, dtype=rows.dtype)
    for fields, result in _chunks(rows, out):
        z, e = _head(samples, len(fields)), _head(negative, len(fields))
        torch.mm(fields, A_T, out=z)  # z log2(e)
        torch.clamp(z, max=0, out=e).exp2_()  # exp(min(z, 0))
        torch.add(minus_log2e, e, alpha=LOG2E, out=e)  # (exp(min(z, 0)) - 1) log2(e)
        torch.maximum(z, e, out=z)  # elu(z) log2(e), as elu(z) = max(z, exp(min(z, 0)) - 1): exp(z) - 1 >= z
        back.mm(z, out=result)
    return out


LOG2E = 1.4426950408889634


def _scaled(m: torch.Tensor, factor: float) -> torch.Tensor:
    return (m.double() * factor).to(m.dtype)


class _Paired:
    """Products ``rows @ m`` with a narrow (N, d) ``m`` (samples back to fields), two rows at a time.

    A (n, N) @ (N, d) product with N = 16 and d = 7 is one BLAS (MKL) handles badly: on an AVX2 CPU it took 2.6
    times as long as the same rows paired up, (n / 2, 2N) @ blockdiag(m, m), which does twice the arithmetic.
    Pairing needs no copy: two consecutive rows of a contiguous matrix are one row of its (n / 2, 2N) view. A
    chunk with an odd number of rows goes through as it is.
    """

    def __init__(self, m: torch.Tensor) -> None:
        self.m, self.pair = m, torch.block_diag(m, m)

    def mm(self, rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        n = rows.shape[0]
        if n % 2:
            return torch.mm(rows, self.m, out=out)
        torch.mm(rows.view(n // 2, -1), self.pair, out=out.view(n // 2, -1))
        return out


class _GridELU(torch.autograd.Function):
    """``_grid_elu_rows`` with its gradient; saves only the (n, d) input, and recomputes the samples."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, A: torch.Tensor, A_inv: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows, A, A_inv)
        return _grid_elu_rows(rows, A, A_inv)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, A, A_inv = ctx.saved_tensors
        grad = grad.contiguous()
        out = torch.empty_like(rows, memory_format=torch.contiguous_format)
        samples, slope = _scratch(rows, A.shape[0])
        A_T, back = _scaled(A, LOG2E).T.contiguous(), _Paired(A)
        for fields, g_fields, result in _chunks(rows, grad, out):
            z, g = _head(slope, len(fields)), _head(samples, len(fields))
            torch.mm(fields, A_T, out=z)  # z log2(e)
            z.clamp_(max=0).exp2_()  # elu'(z) = exp(min(z, 0))
            torch.mm(g_fields, A_inv, out=g)
            back.mm(g.mul_(z), out=result)
        return out, None, None


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) stored channels-last, as torch's convolutions then keep it; with C = 1, where torch cannot
    tell the two layouts apart by the strides, the copy gets the channels-last strides explicitly."""
    return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)


def check_images(x: object, in_channels: int, min_size: int) -> None:
    """Raise a ``TypeError``/``ValueError`` that says how to fix ``x`` unless it is a batch of images.

    Expected: a floating-point tensor of shape (B, in_channels, H, W) with H, W >= ``min_size`` and
    finite values (MNIST-style pixel values in [0, 1], background 0).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of shape (B, {in_channels}, H, W), got {type(x).__name__}; "
                        "convert with torch.as_tensor(x, dtype=torch.float32)")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"expected a 4-d tensor (B, {in_channels}, H, W), got shape {tuple(x.shape)}{hint}")
    if x.shape[1] != in_channels:
        raise ValueError(f"expected {in_channels} input channel(s), got {x.shape[1]} in shape {tuple(x.shape)}; "
                         f"convert the images or build the model with in_channels={x.shape[1]}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor with pixel values in [0, 1], got dtype {x.dtype}; "
                        "use x.float() / 255 for 8-bit images")
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise ValueError(f"images must be at least {min_size}x{min_size} pixels, got {x.shape[2]}x{x.shape[3]}; "
                         "upsample or pad them")
    if not torch.isfinite(x).all():
        raise ValueError("input contains NaN or inf values; clean or mask them before calling the model")


def check_num_classes(num_classes: object) -> None:
    """Raise a ``ValueError`` unless ``num_classes`` is a positive int (checked before any work starts)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
