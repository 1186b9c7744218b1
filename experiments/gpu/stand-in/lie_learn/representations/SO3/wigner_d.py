"""Stand-in for lie_learn on the GPU machine (no compiler for its Cython there): escnn imports this name for
SO(3), which no preset of the zoo uses; calling it fails loudly."""


def wigner_D_matrix(*args, **kwargs):
    raise NotImplementedError("lie_learn is not installed on this machine (SO(3) Wigner matrices)")
