"""Image models: the shared image base, convolutional blocks, CausalGAN and CCGM on images."""
