"""Media I/O: decoding and writing video and audio (PyAV), faces, mel spectrograms."""
