"""The windows. They show models and emit intentions; they never touch the network."""
