"""The UF-TSN flow estimator: shared feature pyramid, coarse-to-fine cost-volume decoder (PWC/ARFlow family).

At each level, from the coarsest to ``output_level`` (1/4 resolution by default): upsample the coarser
flow (x2 size, x2 value), warp the second image's features with it, build the cost volume
(seed: ``CostVolume^l = (1/N) q1^T q2``), and let a decoder predict the flow residual. The finest flow
is optionally refined by a dilated context network, then upsampled to the input resolution.
The seed's two ablations are switches of this class: ``cost_volume=False`` (the decoder sees the
concatenated features) and ``multi_scale=False`` (one level, no coarse-to-fine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ufsn.choices import check_choices
from ufsn.config_loader import build
from ufsn.errors import ConfigError
from ufsn.flow.corr import CostVolume, cost_volume_flops_hook, num_displacements
from ufsn.flow.warp import Warp, upsample_flow, warp_flops_hook

Upsampling = Literal["bilinear", "guided"]  # coarse flow to the next level: resized | learned from finer features


@dataclass(frozen=True)
class FlowNetConfig:
    """Architecture of :class:`FlowNet`; the defaults are the synthetic/paper estimator."""

    # Keys of older configs, checkpoints and records that no longer mean anything; the loader drops them.
    # vectorised_corr chose a cost-volume form with the same numbers: the cost volume now picks its own by size.
    RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("vectorised_corr",)

    channels: tuple[int, ...] = (16, 32, 64, 96, 128)  # feature pyramid widths; level l (1-based) at stride 2^l
    output_level: int = 2  # finest decoded level: 2 = stride 4, the 1/4-resolution output
    max_displacement: int = 4  # cost volume radius R at every level: (2R+1)^2 = 81 channels
    feature_proj: int = 32  # 1x1 projection of each level's features for the decoder (one decoder fits all levels)
    decoder_widths: tuple[int, ...] = (96, 64, 48, 32)  # 3x3 conv widths of the flow decoder, in order
    shared_decoder: bool = True  # one decoder for all levels (ARFlow) rather than one per level (PWC-Net)
    context: bool = True  # dilated context network refining the finest flow (PWC-Net's)
    context_widths: tuple[int, ...] = (64, 64, 48, 32)  # context widths; dilations 1, 2, 4, 8, ...
    cost_volume: bool = True  # False: ablation "w/o cost volume", decoder sees [q1, warped q2]
    multi_scale: bool = True  # False: ablation "w/o multi-scale", a single level at output_level
    normalize_features: bool = True  # zero-mean, unit-std features of the pair before matching (UFlow)
    upsample: Upsampling = "bilinear"

    def __post_init__(self):
        if not 1 <= self.output_level <= len(self.channels):
            raise ConfigError(f"output_level {self.output_level} outside 1..{len(self.channels)}")
        check_choices(self)

    @property
    def decode_levels(self) -> list[int]:
        """Pyramid levels (1-based) decoded, coarse to fine."""
        top = len(self.channels) if self.multi_scale else self.output_level
        return list(range(top, self.output_level - 1, -1))


def flownet_config(values: dict, file: str = "flow_net") -> FlowNetConfig:
    """The architecture from a TOML ``[net]`` table, a checkpoint's ``net_config`` or a record's ``flow_net``.

    The one place a FlowNetConfig is made from stored values: unknown keys name ``file``.
    """
    return build(FlowNetConfig, values, file=file, section="net")


class FlowOutput(NamedTuple):
    flows: list[torch.Tensor]  # coarse to fine, each (B, 2, H_l, W_l) in pixels of its level
    full: torch.Tensor  # (B, 2, H, W) the finest flow upsampled to the input, in input pixels


def normalize_pair(f1: torch.Tensor, f2: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract the pair's mean and divide by its standard deviation (statistics per sample, over
    channels and pixels of both maps), so the cost volume is a normalised correlation of order 1.

    Raw leaky-ReLU features of a freshly initialised pyramid give costs of 1e-5..1e-3, which the
    decoder cannot tell from zero: the network then sits at zero flow, supervised or not.
    """
    both = torch.stack([f1, f2])  # (2, B, C, h, w)
    mean = both.mean(dim=(0, 2, 3, 4), keepdim=True)  # (1, B, 1, 1, 1)
    std = (both - mean).pow(2).mean(dim=(0, 2, 3, 4), keepdim=True).add(eps).sqrt()  # (1, B, 1, 1, 1)
    normed = (both - mean) / std  # (2, B, C, h, w)
    return normed[0], normed[1]


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.LeakyReLU(0.1, inplace=True),
    )


def _zero_init(conv: nn.Conv2d) -> nn.Conv2d:
    """Zero the layer that outputs a flow residual: training starts from zero flow, not from random
    flows of a few pixels that the ``x2`` upsampling compounds over the levels (2.5 px EPE at init on
    the synthetic set, where half the pixels are static)."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class FeaturePyramid(nn.Module):
    """Shallow shared encoder: per level a stride-2 conv and a conv."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        widths = (3, *channels)
        self.levels = nn.ModuleList(
            nn.Sequential(_conv(widths[i], widths[i + 1], stride=2), _conv(widths[i + 1], widths[i + 1]))
            for i in range(len(channels))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for level in self.levels:
            x = level(x)  # (B, C_l, H / 2^l, W / 2^l)
            feats.append(x)
        return feats


class FlowDecoder(nn.Module):
    """Plain conv stack predicting a flow residual; also returns its last hidden features for the context net."""

    def __init__(self, cin: int, widths: tuple[int, ...]):
        super().__init__()
        layers, c = [], cin
        for w in widths:
            layers.append(_conv(c, w))
            c = w
        self.body = nn.Sequential(*layers)
        self.head = _zero_init(nn.Conv2d(c, 2, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(x)  # (B, widths[-1], H, W)
        return self.head(hidden), hidden  # (B, 2, H, W), hidden


class ContextNet(nn.Module):
    """Dilated convs over [hidden, flow] predicting a final residual (PWC-Net's context network)."""

    def __init__(self, cin: int, widths: tuple[int, ...]):
        super().__init__()
        layers, c = [], cin
        for i, w in enumerate(widths):
            layers.append(_conv(c, w, dilation=2**i))
            c = w
        layers.append(_zero_init(nn.Conv2d(c, 2, 3, padding=1)))
        self.body = nn.Sequential(*layers)

    def forward(self, hidden: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return flow + self.body(torch.cat([hidden, flow], dim=1))  # (B, 2, H, W)


def bilinear_logits() -> torch.Tensor:
    """(9, 2, 2) logits whose softmax over the 3x3 coarse neighbours ``n = 3 (dy + 1) + (dx + 1)`` is bilinear
    x2 upsampling for the fine sub-pixel (sy, sx) of a coarse pixel (pixel centres, ``align_corners=False``).

    Per axis the sub-pixel sits ``u = -1/4`` or ``+1/4`` coarse pixels from its parent's centre and neighbour
    ``d`` gets ``max(0, 1 - |u - d|)``; a zero weight becomes 1e-4.
    """
    u = torch.tensor([-0.25, 0.25], dtype=torch.float64)  # (2,) sub-pixel offsets
    d = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)  # (3,) neighbour offsets
    w = (1 - (u.view(1, 2) - d.view(3, 1)).abs()).clamp(min=0)  # (3, 2): neighbour, sub-pixel
    w2 = w.view(3, 1, 2, 1) * w.view(1, 3, 1, 2)  # (dy, dx, sy, sx)
    return w2.reshape(9, 2, 2).clamp(min=1e-4).log().float()


class GuidedUpsampler(nn.Module):
    """Coarse flow to the next, 2x finer level: every fine pixel mixes the 3x3 coarse flow vectors around
    its parent with softmax weights predicted from the fine level's own features.

    Bilinear upsampling spreads a moving actor's flow one coarse pixel into the static background at every
    level (32 input pixels at the top of a 5-level pyramid); the fine features know where the actor's edge
    is and can pick the vectors of its own side. The weights start as bilinear upsampling (zeroed head plus
    the bilinear logits), so training departs from the plain pyramid.
    """

    def __init__(self, cin: int, width: int = 32):
        super().__init__()
        self.mask = nn.Sequential(_conv(cin, width), nn.Conv2d(width, 9, 1))
        self.register_buffer("prior", bilinear_logits(), persistent=False)  # (9, 2, 2)

    def zero_head(self) -> None:
        _zero_init(self.mask[-1])

    def forward(self, guide: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """guide (B, C, h, w) features of the fine level, coarse (B, 2, hc, wc) with h <= 2 hc, w <= 2 wc;
        returns (B, 2, h, w) in pixels of the fine level (scaled by the size ratio, as :func:`upsample_flow`)."""
        b, _, hc, wc = coarse.shape
        h, w = guide.shape[-2:]
        ys, xs = torch.arange(h, device=guide.device), torch.arange(w, device=guide.device)  # (h,), (w,)
        padded = F.pad(coarse, (1, 1, 1, 1), mode="replicate")  # (B, 2, hc+2, wc+2)
        neighbours = F.unfold(padded, kernel_size=3).view(b, 2, 9, hc, wc)  # (B, 2, 9, hc, wc)
        neighbours = neighbours[:, :, :, ys // 2][..., xs // 2]  # (B, 2, 9, h, w): the parent's 3x3 neighbours
        prior = self.prior[:, ys % 2][..., xs % 2]  # (9, h, w): bilinear logits of each fine pixel's sub-pixel
        weights = (self.mask(guide) + prior).softmax(dim=1).unsqueeze(1)  # (B, 1, 9, h, w)
        ratio = torch.tensor([w / wc, h / hc], device=coarse.device, dtype=coarse.dtype).view(1, 2, 1, 1)
        return (weights * neighbours).sum(dim=2) * ratio  # (B, 2, h, w)


class FlowNet(nn.Module):
    """``FlowNet(img1, img2) -> FlowOutput``; images (B, 3, H, W) RGB in [0, 1], any H, W >= 2^levels."""

    def __init__(self, config: FlowNetConfig = FlowNetConfig(), *, corr: CostVolume | None = None):
        """``corr``: another cost volume of the same radius (benchmarks and tests pass the reference loop)."""
        super().__init__()
        self.config = cfg = config
        n_enc = len(cfg.channels) if cfg.multi_scale else cfg.output_level
        self.encoder = FeaturePyramid(cfg.channels[:n_enc])
        self.proj = nn.ModuleDict(
            {str(lv): nn.Conv2d(cfg.channels[lv - 1], cfg.feature_proj, 1) for lv in cfg.decode_levels}
        )
        self.warp = Warp()
        self.corr = CostVolume(max_displacement=cfg.max_displacement) if corr is None else corr
        if self.corr.max_displacement != cfg.max_displacement:
            radius = self.corr.max_displacement
            raise ValueError(f"cost volume radius {radius} != max_displacement {cfg.max_displacement}")
        match_ch = num_displacements(cfg.max_displacement) if cfg.cost_volume else cfg.feature_proj
        dec_in = match_ch + cfg.feature_proj + 2  # [matching, proj(q1), upsampled flow]
        n_dec = 1 if cfg.shared_decoder else len(cfg.decode_levels)
        self.decoders = nn.ModuleList(FlowDecoder(dec_in, cfg.decoder_widths) for _ in range(n_dec))
        self.context = ContextNet(cfg.decoder_widths[-1] + 2, cfg.context_widths) if cfg.context else None
        guided = cfg.upsample == "guided" and len(cfg.decode_levels) > 1
        self.upsampler = GuidedUpsampler(cfg.feature_proj) if guided else None  # shared by every level, as the decoder
        self.act = nn.LeakyReLU(0.1)
        self._init_weights()

    def _init_weights(self) -> None:
        """He init for leaky ReLU on every conv, flow heads zeroed.

        PyTorch's default conv init shrinks the signal about 3x per layer: after the 10-conv encoder
        and the decoder the hidden features are ~1e-3, the flow heads get almost no gradient and the
        network stays at zero flow even when supervised (measured on the synthetic set).
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        for decoder in self.decoders:
            _zero_init(decoder.head)
        if self.context is not None:
            _zero_init(self.context.body[-1])
        if self.upsampler is not None:
            self.upsampler.zero_head()

    def forward(self, img1: torch.Tensor, img2: torch.Tensor) -> FlowOutput:
        b = img1.shape[0]
        x = torch.cat([img1, img2], dim=0)  # (2B, 3, H, W): one encoder pass for both frames
        x = x - x.mean(dim=(2, 3), keepdim=True)  # per-image mean removal: brightness-shift invariance
        feats = [(f[:b], f[b:]) for f in self.encoder(x)]  # per level: ((B, C_l, h, w), (B, C_l, h, w))
        flows, flow, hidden = [], None, None
        for i, level in enumerate(self.config.decode_levels):
            flow, hidden = self._decode(i, level, *feats[level - 1], flow)
            flows.append(flow)
        if self.context is not None:
            flows[-1] = self.context(hidden, flows[-1])  # (B, 2, h, w)
        return FlowOutput(flows, upsample_flow(flows[-1], img1.shape[-2:]))  # full: (B, 2, H, W)

    def _decode(self, i: int, level: int, f1: torch.Tensor, f2: torch.Tensor, coarse: torch.Tensor | None):
        """One pyramid level: upsample, warp, match, decode the residual."""
        p1 = self.proj[str(level)](f1)  # (B, P, h, w)
        if coarse is None:
            up = f1.new_zeros(f1.shape[0], 2, *f1.shape[-2:])  # (B, 2, h, w) zero flow at the top
        else:
            if self.upsampler is not None:
                up = self.upsampler(p1, coarse)  # (B, 2, h, w), guided by this level's features
            else:
                up = upsample_flow(coarse, f1.shape[-2:])  # (B, 2, h, w), x2 size and x2 value
            f2 = self.warp(f2, up)  # q2(x + up(U^{l+1})(x))
        if self.config.cost_volume:
            if self.config.normalize_features:
                f1, f2 = normalize_pair(f1, f2)  # (B, C_l, h, w) each, zero mean and unit std per pair
            match = self.act(self.corr(f1, f2))  # (B, 81, h, w)
        else:
            match = self.proj[str(level)](f2)  # (B, P, h, w)
        decoder = self.decoders[0 if self.config.shared_decoder else i]
        residual, hidden = decoder(torch.cat([match, p1, up], dim=1))  # (B, 2, h, w), (B, D, h, w)
        return up + residual, hidden


def count_parameters(*models: nn.Module) -> int:
    """Parameters of ``models``, trainable or frozen: the size of what they hold (the run record's ``params``)."""
    return sum(p.numel() for m in models for p in m.parameters())


def flops_hooks() -> dict:
    """ptflops ``custom_modules_hooks`` for the ops ptflops does not count by itself."""
    return {CostVolume: cost_volume_flops_hook, Warp: warp_flops_hook}


# ptflops prints this for modules called with keyword inputs only and then assumes batch 1: every count
# here is made at batch 1, so the line says nothing a user should act on.
PTFLOPS_BATCH_WARNING = "No positional inputs found for a module"


def quiet_ptflops(call):
    """``call()`` with ptflops' batch-size warnings held back; any other line it prints goes to stderr."""
    import contextlib
    import io
    import sys

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        result = call()
    for line in captured.getvalue().splitlines():
        if line.strip() and PTFLOPS_BATCH_WARNING not in line:
            print(line, file=sys.stderr)
    return result


def count_macs(model: FlowNet, height: int, width: int, ignore_ops: bool = False) -> int:
    """Multiply-accumulates of one forward pass at (height, width), batch 1, via ptflops.

    ``ignore_ops=True`` drops the correlation and warping hooks (to show what they add).
    """
    from ptflops import get_model_complexity_info

    def inputs(_res):
        p = next(model.parameters())
        img = torch.zeros(1, 3, height, width, device=p.device, dtype=p.dtype)
        return {"img1": img, "img2": img}

    macs, _ = quiet_ptflops(
        lambda: get_model_complexity_info(
            model,
            (3, height, width),
            input_constructor=inputs,
            as_strings=False,
            print_per_layer_stat=False,
            custom_modules_hooks={} if ignore_ops else flops_hooks(),
            ignore_modules=[CostVolume, Warp] if ignore_ops else [],
            backend="pytorch",
        )
    )
    return int(macs)
