"""Fine-tuning the served model on the shop's own dialogues: LoRA adapters trained with DP-SGD
(`trainer.py`), the per-customer data rows (`data.py`), the adapters' layout (`lora.py`), the
canary audit (`audit.py`) and the benchmark (`bench.py`). Torch is imported only here, never by
the web processes; the Celery task imports this package inside the task."""
