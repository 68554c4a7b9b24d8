"""Convolution: conv_general_dilated, whose adjoints are convolutions too."""
