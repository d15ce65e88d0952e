"""What the engine learns from history: relations between alert types, text
similarity, and the versioned store the learned models live in.

Every learnable part is an estimator in the scikit-learn sense: the constructor
only stores parameters, ``fit`` learns, ``to_dict``/``from_dict`` save and load it
as plain JSON so versions can be stored, compared and promoted.
"""
