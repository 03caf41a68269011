"""Audio-visual sync learned from real recordings without labels (SyncNet-style).

``features``: the model inputs (grey lower-face crops, log-mel stacked to 25 Hz); ``model``: the
encoder pair; ``offset``: the offset search that scores it; ``cache``/``task``: training from the
corpus (``vocalens sync-train``). The registered encoders live in ``vocalens.encoders.sync``.
"""
