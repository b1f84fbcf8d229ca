"""The demo model: a small DeepSeek-R1-architecture checkpoint trained by the project.

- `world`: a fictional shop's orders, parcels and returns, as the agent's tools return them;
- `phrases`: what customers write (templates, paraphrase rules, typos, slang; held-out templates);
- `answers`: the assistant's grounded replies to tool results;
- `fim`: fill-in-the-middle samples from the interpreter's standard library;
- `corpus`: dialogues rendered with the serving chat template (`python -m modelserver demo-corpus`);
- `tokenizer`, `train`, `evaluate`: `python -m modelserver train-demo` / `eval-demo`.
"""
