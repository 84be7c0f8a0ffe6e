"""Reference recovery programs, one per env, written for this project (not model output)."""
