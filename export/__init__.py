"""Model export (PyTorch -> ONNX -> int8 ONNX / int8 TFLite), installed as streamser.export.

Needs the ``export`` extra; the robot runtime never imports it.
"""
