"""Dataset generators (not the data layer): synthetic LAV-DF (`synth/`), partial fakes of real videos
(`forge`), toy feature stores for tests and benchmarks (`toy`). They write through the data layer's
writers (vocalens.data.metadata, vocalens.data.store) so what they make reads like any other dataset."""
