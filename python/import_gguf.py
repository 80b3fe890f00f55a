"""Convert a GGUF checkpoint into a plain HF folder (what `neglect import-gguf` runs).

GGUF parsing, dequantisation and the GGUF -> tokenizer.json conversion are done by
transformers' GGUF loader (which uses the `gguf` package): both are maintained upstream and
already tested against llama.cpp's formats, so neglect does not re-implement them.

Writes config.json, model.safetensors (f32, dequantised), tokenizer.json,
tokenizer_config.json (with the chat template inline) into a temporary folder beside OUT and
renames it into place.

usage: python import_gguf.py FILE.gguf OUT
"""

import json
import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    gguf_file = Path(sys.argv[1]).resolve()
    out = Path(sys.argv[2]).resolve()
    if not gguf_file.is_file():
        print(f"error: {gguf_file}: no such GGUF file", file=sys.stderr)
        return 1

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as e:  # surface the loader's reason with the file name
        print(f"error: {gguf_file}: cannot read GGUF: {e}", file=sys.stderr)
        return 1

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.config.save_pretrained(tmp)
    # The weights are written dequantised, so the GGUF quantisation entry no longer applies.
    config_json = tmp / "config.json"
    config = json.loads(config_json.read_text())
    config.pop("quantization_config", None)
    config_json.write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save_pretrained(tmp)
    # Keep the chat template inside tokenizer_config.json as well as chat_template.jinja.
    config_path = tmp / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    if tokenizer.chat_template and "chat_template" not in config:
        config["chat_template"] = tokenizer.chat_template
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    tensors = {k: v.detach().contiguous() for k, v in state.items()}
    save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"wrote {out} ({sum(t.numel() for t in tensors.values())} parameters)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
