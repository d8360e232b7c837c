"""JPEG as Real-ESRGAN trains with it: basicsr's ``DiffJPEG(differentiable=False)``, bit for bit on the CPU.

A baseline JPEG round trip (ITU-T T.81) kept in float32: colour conversion to YCbCr (JFIF, ITU-T T.871
section 7), 2 x 2 chroma subsampling (T.81 A.1.1 with H = V = 2 for Y, 1 for Cb and Cr), the level shift
and 8 x 8 forward DCT (T.81 A.3.1, A.3.3), quantisation by the example tables of T.81 Annex K (Tables K.1
and K.2) scaled for a quality as IJG libjpeg scales them, dequantisation and inverse DCT (T.81 A.3.3,
A.3.4), nearest-neighbour chroma upsampling, conversion back to RGB and clamping to [0, 255]. Only the
quantised DCT coefficients are rounded; the decoded picture stays float (Real-ESRGAN rounds once, at the
end of its whole degradation). No entropy coding is done: it is lossless (T.81 F, Annex C) and would not
change a value.

This is what ``RealESRGANModel.feed_data`` (xinntao/Real-ESRGAN ``realesrgan/models/realesrgan_model.py``
lines 107-109, 152-159) applies, with the quality a float32 tensor drawn from U(30, 95). It follows
XPixelGroup/BasicSR ``basicsr/utils/diffjpeg.py`` (v1.4.2, unchanged at 8d56e3a), including its quirks
(``docs/degradations.md``, "Differences"):

- the luminance table is applied transposed (``y_table = ....T``, lines 14-18): the coefficient of vertical
  frequency u and horizontal frequency v is divided by Table K.1's entry for (v, u) (Table K.2, the
  chrominance table, is symmetric);
- the quality scales the tables continuously: ``factor = 5000 / q`` (q < 50) or ``200 - 2 q``, over 100, in
  float32 (lines 32-45, 476-478), and the tables are multiplied by it without libjpeg's rounding to
  integers and clamping to 1..255 (``jpeg_quality_scaling``, ``jpeg_add_quant_table``; lines 168-172);
- a picture whose side is not a multiple of 16 is padded with black (zeros) on the right and at the bottom
  (lines 479-486), where libjpeg replicates the edge pixels: the blocks at those edges, and the chroma
  averaged over them, see the black;
- chroma is upsampled by repeating each sample 2 x 2 (lines 366-371), not by libjpeg's "fancy" (triangular)
  upsampling;
- the decoded values are clamped to [0, 255] and divided by 255 but not rounded (lines 442-443).

The arithmetic is float32 in the same order as there (the 8 x 8 transforms as products with a 64 x 64
basis), so that the rounding of each quantised coefficient, and with it every output bit, is the same.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

BLOCK = 8
MCU = 16  # a minimum coded unit of 4:2:0: two luminance blocks across and down, one block of each chroma

# ITU-T T.81 Table K.1 (luminance) and K.2 (chrominance), natural order: row = vertical frequency.
LUMINANCE_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)
CHROMINANCE_TABLE = np.full((8, 8), 99)
CHROMINANCE_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]

# JFIF (ITU-T T.871 section 7): rows R, G, B -> columns Y, Cb, Cr; and back, rows Y, Cb - 128, Cr - 128.
TO_YCBCR = np.array([[0.299, -0.168736, 0.5], [0.587, -0.331264, -0.418688], [0.114, 0.5, -0.081312]])
TO_RGB = np.array([[1.0, 1.0, 1.0], [0.0, -0.344136, 1.772], [1.402, -0.714136, 0.0]])


def _basis() -> np.ndarray:
    """The 64 x 64 DCT basis: ``[8 y + x, 8 v + u] = cos((2 y + 1) v pi / 16) cos((2 x + 1) u pi / 16)``.

    Rows are sample positions (y down, x across), columns frequencies (v vertical, u horizontal); the
    products are taken in float64 and rounded to float32 once.
    """
    position, frequency = np.arange(BLOCK)[:, None], np.arange(BLOCK)[None, :]
    cosines = np.cos((2 * position + 1) * frequency * np.pi / 16)  # [position, frequency]
    return np.einsum("yv,xu->yxvu", cosines, cosines).reshape(64, 64).astype(np.float32)


def _normalisation(scale: float = 1.0) -> np.ndarray:
    """``scale C(v) C(u)`` of T.81 A.3.3 (C(0) = 1/sqrt(2), else 1) for coefficient (v, u), float32."""
    c = np.array([1 / math.sqrt(2)] + [1.0] * 7)
    return (np.outer(c, c) * scale).astype(np.float32)


FDCT = torch.from_numpy(_basis())  # samples (row) x frequencies (column)
IDCT = FDCT.T.contiguous()  # frequencies x samples
NORMALISATION = torch.from_numpy(_normalisation())
FDCT_SCALE = torch.from_numpy(_normalisation(0.25))
# DiffJPEG's quirk: the luminance table transposed (see the module docstring).
QUANTISATION = {
    "luminance": torch.from_numpy(LUMINANCE_TABLE.T.astype(np.float32)),
    "chrominance": torch.from_numpy(CHROMINANCE_TABLE.T.astype(np.float32)),
}
TO_YCBCR_F32 = torch.from_numpy(TO_YCBCR.astype(np.float32))
TO_RGB_F32 = torch.from_numpy(TO_RGB.astype(np.float32))
LEVEL = torch.tensor([0.0, 128.0, 128.0])


def quality_factor(quality: float) -> torch.Tensor:
    """The factor a quality scales the tables by, in float32: ``5000 / q`` below 50, else ``200 - 2 q``, / 100.

    IJG libjpeg's ``jpeg_quality_scaling`` (``jcparam.c``), as ``diffjpeg.py`` ``quality_to_factor`` (lines
    32-45) computes it on the float32 quality ``feed_data`` draws: the quality is rounded to float32 first.
    """
    q = torch.tensor(quality, dtype=torch.float32)
    return (5000.0 / q if q < 50 else 200.0 - q * 2) / 100.0


def _blocks(plane: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (B * H/8 * W/8, 64): 8 x 8 blocks in raster order, each row-major."""
    batch, height, width = plane.shape
    blocks = plane.reshape(batch, height // BLOCK, BLOCK, width // BLOCK, BLOCK).permute(0, 1, 3, 2, 4)
    return blocks.reshape(-1, BLOCK * BLOCK)


def _unblocks(blocks: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`_blocks`."""
    grid = blocks.reshape(batch, height // BLOCK, width // BLOCK, BLOCK, BLOCK).permute(0, 1, 3, 2, 4)
    return grid.reshape(batch, height, width)


def _code(plane: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Level shift, FDCT, quantisation (rounded half to even), dequantisation and IDCT of one component.

    T.81 A.3.3: ``S(v, u) = 1/4 C(u) C(v) sum_x sum_y s(y, x) cos((2x+1) u pi/16) cos((2y+1) v pi/16)``,
    A.3.4: ``Sq = round(S / Q)``, ``R = Sq Q``, and the IDCT
    ``s(y, x) = 1/4 sum_u sum_v C(u) C(v) R(v, u) cos((2x+1) u pi/16) cos((2y+1) v pi/16)``, level shifted back.
    ``table`` is the scaled quantisation table, (B, 1, 8, 8).
    """
    batch, height, width = plane.shape
    coefficients = FDCT_SCALE * (_blocks(plane - 128) @ FDCT).view(batch, -1, BLOCK, BLOCK)
    dequantised = torch.round(coefficients / table) * table
    samples = 0.25 * ((dequantised * NORMALISATION).view(-1, BLOCK * BLOCK) @ IDCT) + 128
    return _unblocks(samples, batch, height, width)


def diffjpeg(image: torch.Tensor, quality: float) -> torch.Tensor:
    """A JPEG round trip at ``quality`` of a float RGB batch, as ``DiffJPEG(differentiable=False)`` does it.

    Parameters
    ----------
    image : torch.Tensor
        (B, 3, H, W) float32 RGB in [0, 1] (``feed_data`` clamps before), or (B, 1, H, W) gray: coded as
        the RGB picture R = G = B (its chroma quantises to zero, so the three decoded channels are equal)
        and returned as one channel.
    quality : float
        JPEG quality, 1..100 (not rounded: rounded to float32, as ``feed_data``'s ``jpeg_p``).

    Returns
    -------
    torch.Tensor
        The decoded picture, float32 in [0, 1], unrounded, the shape of ``image``.
    """
    if image.shape[1] == 1:
        return diffjpeg(image.expand(-1, 3, -1, -1), quality)[:, :1]
    batch, _, height, width = image.shape
    padded = F.pad(image, (0, -width % MCU, 0, -height % MCU), mode="constant", value=0)  # quirk: black
    ycbcr = torch.tensordot((padded * 255).permute(0, 2, 3, 1), TO_YCBCR_F32, dims=1) + LEVEL
    factor = quality_factor(quality).expand(batch).reshape(batch, 1, 1, 1)
    luma_table = QUANTISATION["luminance"].expand(batch, 1, BLOCK, BLOCK) * factor
    chroma_table = QUANTISATION["chrominance"].expand(batch, 1, BLOCK, BLOCK) * factor
    luma = _code(ycbcr[..., 0], luma_table)
    chroma = []
    for channel in (1, 2):  # 4:2:0: the mean of each 2 x 2 square, coded, repeated back over it
        small = F.avg_pool2d(ycbcr[..., channel][:, None].contiguous(), kernel_size=2, stride=2)[:, 0]
        coded = _code(small, chroma_table)
        chroma.append(coded.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2))
    decoded = torch.stack([luma, *chroma], dim=3)
    rgb = torch.tensordot(decoded - LEVEL, TO_RGB_F32, dims=1).permute(0, 3, 1, 2)
    return (torch.clamp(rgb, 0, 255) / 255)[:, :, :height, :width]
