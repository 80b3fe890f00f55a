"""transformers reference for `neglect bench generate`.

Greedy batched generation with transformers' `generate` on the same model folder, prompts
(left-padded, attention mask), new tokens and threads as neglect's run. Prints tokens/s on the
first line and the generated ids as JSON on the second.

usage: python bench_generate.py MODEL_DIR PROMPTS.json NEW_TOKENS THREADS WARMUP
"""

import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    model_dir, prompts_file, new_tokens, threads, warmup = sys.argv[1:6]
    new_tokens, threads, warmup = int(new_tokens), int(threads), int(warmup)
    torch.set_num_threads(threads)
    prompts = json.load(open(prompts_file))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    width = max(len(p) for p in prompts)
    pad = 0
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    kwargs = dict(
        attention_mask=mask,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=pad,
    )
    with torch.no_grad():
        for _ in range(warmup):
            model.generate(ids, **kwargs)
        start = time.perf_counter()
        out = model.generate(ids, **kwargs)
        seconds = time.perf_counter() - start
    generated = out[:, width:].tolist()
    print(len(prompts) * new_tokens / seconds)
    print(json.dumps(generated))


if __name__ == "__main__":
    main()
