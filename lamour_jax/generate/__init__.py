"""Reward generation: OOD image -> description -> behaviour -> checked reward programs,
through litellm (any provider or local server) or the offline reference answers.

    from lamour_jax.generate import GenerateOptions, LiteLLMModel, generate
    result = generate(GenerateOptions("hopper", Path("out")), LiteLLMModel("openai/gpt-4o"))
"""

from lamour_jax.generate.cache import ReplyCache, default_cache_dir
from lamour_jax.generate.models import LiteLLMModel, ModelError, OfflineModel, Reply
from lamour_jax.generate.pipeline import (
    GenerateOptions,
    GenerationError,
    GenerationResult,
    generate,
)

__all__ = ["GenerateOptions", "GenerationError", "GenerationResult", "LiteLLMModel",
           "ModelError", "OfflineModel", "Reply", "ReplyCache", "default_cache_dir",
           "generate"]
