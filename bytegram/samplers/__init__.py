"""Stage 3: logits + matcher -> next token.

- ``MaskedSampler``: full mask, transforms, one draw. Exact, weight exact.
- ``AdaptiveRejectionSampler``: visit tokens by Gumbel key, first allowed wins; exact for
  every setting (falls back to the mask when it must), with an unbiased weight.
- ``SMC``: sequential Monte Carlo over particles, correcting the bias of token-by-token
  masking toward the model's distribution conditioned on a complete valid output.
- ``transforms``: batched in-place logits transforms and ``apply_bitmask``; ``truncation``:
  the top-k / top-p / min-p thresholds of one row; ``categorical``: exact draws and
  log-sums.
"""

from .awrs import AdaptiveRejectionSampler
from .base import NO_TOKEN, Sample, SamplingParams
from .masked import MaskedSampler
from .smc import SMC, LanguageModel, SMCResult
from .transforms import (apply_bitmask, apply_min_p, apply_params, apply_repetition_penalty,
                         apply_temperature, apply_top_k, apply_top_p)

__all__ = [
    "MaskedSampler", "AdaptiveRejectionSampler", "SMC", "SMCResult", "LanguageModel",
    "Sample", "SamplingParams", "NO_TOKEN",
    "apply_bitmask", "apply_temperature", "apply_repetition_penalty", "apply_top_k",
    "apply_top_p", "apply_min_p", "apply_params",
]
