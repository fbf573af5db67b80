"""Sequential Monte Carlo: sampling from the model conditioned on the whole output being
valid, instead of greedily masking token by token.

Token-by-token masking over-weights continuations that look good locally but leave little
probability for a valid ending; SMC's particles carry weights (estimates of the allowed mass
at each step) and resample, correcting that bias. The log marginal-likelihood estimate is
log P(the model's output is valid).
"""

from __future__ import annotations

import bytegram
from bytegram.models import ByteLM
from bytegram.samplers import SMC, AdaptiveRejectionSampler


def main() -> None:
    model = ByteLM.load()
    pattern = r"\{\"answer\": (true|false), \"confidence\": 0\.[0-9]\}"
    compiled = bytegram.compile(bytegram.Grammar.from_regex(pattern), model.vocab)
    smc = SMC(model, compiled, n_particles=8, max_new_tokens=48, seed=0,
              sampler=AdaptiveRejectionSampler(seed=0))
    result = smc.run(model.encode("Is the sky blue? Reply as JSON:\n"))
    print(f"log P(valid) estimate: {result.log_marginal_likelihood:.2f}, "
          f"resampled {result.n_resamples} times, {result.n_incomplete} incomplete particles")
    for seq, weight in sorted(result.posterior().items(), key=lambda kv: -kv[1]):
        print(f"  {weight:.3f}  {model.decode([t for t in seq if t != model.eos_id])}")


if __name__ == "__main__":
    main()
