"""The data layer: metadata records (read and write LAV-DF / AV-Deepfake1M), frame labels, audio-to-frame
alignment, the feature store. Datasets we make are in vocalens.datagen."""
