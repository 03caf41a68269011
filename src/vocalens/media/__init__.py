"""Media I/O: decoding and writing video and audio (PyAV), faces and face crops, mel spectrograms."""
