"""The model side: MobileNetV2 and its loading, the micro-batcher, preprocessing and the decoding budget."""
