"""pikfix-bench: build, run and publish old-photo restoration and colourization benchmarks.

Data conventions (every module obeys them, see ``docs/conventions.md``):

- numpy images are ``uint8``, ``H x W x 3`` RGB or ``H x W`` grayscale;
- torch images are float RGB in ``[0, 1]``, ``N x C x H x W``;
- metric maths runs in float64 unless a metric documents otherwise.
"""

__version__ = "0.2.0"
