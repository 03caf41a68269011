"""Numbers the whole package agrees on, written once (as openai/whisper's audio.py does).

LAV-DF and AV-Deepfake1M are 25 fps video with 16 kHz mono audio; every default frame rate and
sample rate in vocalens is one of these, and a dataset that differs says so in its own metadata.
"""

FPS = 25.0  # video frames per second: LAV-DF, AV-Deepfake1M, the synthetic sets, the feature store default
SAMPLE_RATE = 16000  # audio samples per second (mono): the datasets, Wav2Vec2, the mel front ends
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640 audio samples per video frame

# ImageNet statistics (RGB, 0..1 pixels): what ViT checkpoints were trained to see
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
