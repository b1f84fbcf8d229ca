"""The serving engine: continuous batching over a paged MLA latent cache (nano-vllm style).

- `sequence`: a request inside the engine (tokens, blocks, sampling state, output text)
- `block_manager`: paged cache bookkeeping, ref counts, prefix caching
- `scheduler`: continuous batching, chunked prefill, admission and preemption
- `runner`: model calls over the cache (CUDA graphs for decode on CUDA)
- `sampler`: per-request greedy / temperature / top-k / top-p / seed, grammar masks
- `lora`: run-time LoRA adapters
- `engine`: `LLMEngine.step()` and `AsyncEngine`, its background thread
"""

from modelserver.engine.engine import AsyncEngine, EngineConfig, LLMEngine
from modelserver.engine.sequence import Output, SamplingParams, Sequence

__all__ = ["AsyncEngine", "EngineConfig", "LLMEngine", "Output", "SamplingParams", "Sequence"]
