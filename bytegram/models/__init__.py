"""Models shipped with bytegram: ``ByteLM``, a small byte-level LSTM language model.

    >>> from bytegram.models import ByteLM
    >>> lm = ByteLM.load()                      # bundled weights, CPU, no network
    >>> lm.logits([lm.encode('{"name": ')]).shape
    torch.Size([1, 257])
"""

from .bytelm import BOS_ID, DEFAULT_PATH, EOS_ID, VOCAB_SIZE, ByteLM, ByteLSTM, ModelFileError

__all__ = ["ByteLM", "ByteLSTM", "ModelFileError", "DEFAULT_PATH", "EOS_ID", "BOS_ID",
           "VOCAB_SIZE"]
