"""The cell variants every kernel test runs over: (cell, cell options)."""

VARIANTS = [
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
]
IDS = ["rnn-tanh", "rnn-relu", "lstm", "gru-after", "gru-before"]
