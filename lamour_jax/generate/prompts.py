"""The prompt templates of the three stages (and the repair request), kept as text files in
`rewards/prompts/` so they can be read and edited without touching code. Each run records the
SHA-256 of every template it used, so a transcript names exactly which wording produced it."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources

STAGES = ("describe", "reason", "code", "repair", "reflect")


@dataclass(frozen=True)
class Prompt:
    name: str
    template: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()

    def render(self, **values: object) -> str:
        """Fill the `${name}` slots; a missing value is an error, not a silent blank."""
        try:
            return string.Template(self.template).substitute(
                {k: str(v) for k, v in values.items()})
        except KeyError as err:
            raise ValueError(f"prompt {self.name!r} needs a value for {err}") from None


def code_example(env_name: str) -> str:
    """The code stage's few-shot example for an env, '' for most (spec §3: PushChair only)."""
    path = resources.files("lamour_jax.rewards") / "prompts" / "examples" / f"{env_name}.md"
    return path.read_text() + "\n" if path.is_file() else ""


def load_prompts() -> dict[str, Prompt]:
    folder = resources.files("lamour_jax.rewards") / "prompts"
    return {name: Prompt(name, (folder / f"{name}.md").read_text()) for name in STAGES}
