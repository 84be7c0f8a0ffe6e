"""LaMOuR out-of-distribution recovery on MuJoCo-MJX."""
