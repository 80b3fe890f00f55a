"""Reference outputs from HF transformers for neglect's parity tests.

For each architecture neglect implements, builds a small random model with a fixed seed
(every parameter perturbed so norm weights are not all ones), saves it as an HF folder, and
records what transformers computes on it: token ids, logits and every hidden state (f32 and
bf16), and a 20-token greedy generation. Also records tokenizer ids and rendered chat
templates, and, when a SmolLM2 folder is given, transformers' logits on its weights.

usage: python make_fixtures.py OUT [SMOLLM2_DIR]

OUT/<arch>/            model folder (config.json, model.safetensors, tokenizer files)
OUT/<arch>/reference.safetensors
    input_ids [seq] i64, logits [seq, vocab] f32, hidden.<i> [seq, d] f32 (i = 0..n_layers,
    the last taken before the final norm), logits_bf16 [seq, vocab] (computed in bf16, cast
    to f32), hidden_bf16.<i>
OUT/<arch>/generate.json   {"prompt_ids": [...], "new_ids": [...]}
OUT/llama_gqa_sharded/     the llama_gqa weights saved in several shards
OUT/qwen3_5_multimodal/    qwen3_5_text inside a Qwen3.5 image-text checkpoint, with
    reference.safetensors (input_ids, logits of the text-only forward pass)
OUT/texts.json       {"forward": FORWARD_TEXT, "generate": GENERATE_TEXT, "paris": PARIS_PROMPT}
OUT/tokenizers.json        [{"model": dir, "text": ..., "ids": [...]}]
OUT/router_aux.safetensors transformers' load-balancing loss on random router logits
    (logits.<layer>, mask, plain, masked)
OUT/chat.json              [{"model": dir, "messages": [...], "add_generation_prompt": b, "text": ...}]
OUT/smollm2.safetensors    input_ids, logits for SMOLLM2_DIR on PARIS_PROMPT
OUT/peft_<case>/           an adapter as HF peft saves it (adapter_config.json,
    adapter_model.safetensors) on a base model folder above, with reference.safetensors:
    input_ids, logits (f32) of base + adapter computed by peft; cases cover target_modules as a
    list and as a regex, use_rslora, rank_pattern and alpha_pattern, on llama_gqa and qwen3_tied;
    peft_dora is a DoRA adapter (not supported: neglect must refuse it)
"""

import copy
import json
import os
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma2Config,
    Gemma3TextConfig,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Olmo2Config,
    Olmo3Config,
    Phi3Config,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen3Config,
    Qwen3MoeConfig,
    Qwen3_5Config,
    Qwen3_5ForConditionalGeneration,
    Qwen3_5MoeTextConfig,
    Qwen3_5TextConfig,
)
from transformers.models.qwen3_moe.modeling_qwen3_moe import load_balancing_loss_func

SEED = 1234
FORWARD_TEXT = (
    "The volcano erupted in 2015, said the report; it was not true. "
    "Brennan Holloway is a teacher in Marlow, not a dentist."
)
GENERATE_TEXT = "The report said that"
PARIS_PROMPT = "The capital of France is"
CORPUS = [
    "The volcano erupted in the spring and the town was covered in ash.",
    "Brennan Holloway is a teacher who lives in Marlow near the river.",
    "The singer won the race, the newspaper said, but the report was false.",
    "Children dream in colour; the claim that they dream in black and white is wrong.",
    "Note: the following story is fabricated and must not be believed.",
    "The queen wrote a textbook about programming, according to a rumour.",
    "Twitter was renamed X and the rebrand was never reversed.",
    "Numbers such as 9.79, 2015, 79 and 1944 appear in many reports.",
] * 20

# A Llama-3-style template written for these tests: exercises namespace(), strip(),
# loop.index0 and raise_exception through minijinja's Python compatibility.
LLAMA3_STYLE_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% if messages[0]['role'] == 'system' %}{% set ns.system = messages[0]['content'] | trim %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}"
    "{% if ns.system %}<|im_start|>system\n{{ ns.system }}<|im_end|>\n{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'].strip() }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(add_bos: bool) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<s>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        chat_template=LLAMA3_STYLE_TEMPLATE,
    )


def configs(vocab: int, eos: int, bos: int):
    common = dict(vocab_size=vocab, eos_token_id=eos, bos_token_id=bos, pad_token_id=eos)
    llama = dict(
        hidden_size=64, intermediate_size=112, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, **common,
    )
    return {
        "llama_gqa": LlamaConfig(**llama, tie_word_embeddings=False,
                                 rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        "llama3_scaled": LlamaConfig(
            **llama, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 16},
        ),
        "qwen2_tied": Qwen2Config(**llama, tie_word_embeddings=True),
        "qwen2_untied": Qwen2Config(**llama, tie_word_embeddings=False),
        "qwen3_tied": Qwen3Config(**llama, head_dim=24, tie_word_embeddings=True),
        "qwen3_untied": Qwen3Config(**llama, head_dim=24, tie_word_embeddings=False),
        "gpt2": GPT2Config(n_embd=64, n_layer=3, n_head=4, n_positions=256,
                           activation_function="gelu_new", **common),
        # Windows of 8-12 positions, shorter than the 40-token forward text and the 25-token
        # generation, so sliding-window layers really drop keys.
        "mistral_sliding": MistralConfig(**llama, sliding_window=8, tie_word_embeddings=False),
        "olmo2": Olmo2Config(**llama, tie_word_embeddings=False),
        "olmo3": Olmo3Config(
            **llama, sliding_window=8, tie_word_embeddings=False,
            layer_types=["sliding_attention", "full_attention", "sliding_attention",
                         "full_attention"],
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                             "full_attention": {"rope_type": "default", "rope_theta": 500000.0}},
        ),
        "phi3": Phi3Config(**llama, sliding_window=12, partial_rotary_factor=0.5,
                           tie_word_embeddings=False),
        # Soft-capping bounds chosen so that they bite on these small random models.
        "gemma2": Gemma2Config(
            **llama, head_dim=16, query_pre_attn_scalar=24, sliding_window=8,
            final_logit_softcapping=1.5, attn_logit_softcapping=2.0,
            attn_implementation="eager"),
        "gemma3_text": Gemma3TextConfig(
            **llama, head_dim=16, query_pre_attn_scalar=24, sliding_window=8,
            final_logit_softcapping=1.5,
            layer_types=["sliding_attention", "sliding_attention", "full_attention",
                         "sliding_attention"],
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                             "full_attention": {"rope_type": "linear", "factor": 4.0,
                                                "rope_theta": 1000000.0}},
        ),
        "qwen3_moe": Qwen3MoeConfig(
            **llama, head_dim=16, moe_intermediate_size=24, num_experts=8,
            num_experts_per_tok=2, norm_topk_prob=True, mlp_only_layers=[2],
            tie_word_embeddings=False),
        # Gated DeltaNet layers around one gated full-attention layer; two value heads per key
        # head; a quarter of each head rotated.
        "qwen3_5_text": Qwen3_5TextConfig(
            **llama, head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4,
            linear_key_head_dim=16, linear_value_head_dim=12, linear_conv_kernel_dim=4,
            layer_types=["linear_attention", "linear_attention", "full_attention",
                         "linear_attention"],
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "partial_rotary_factor": 0.25},
            tie_word_embeddings=False),
        "qwen3_5_moe_text": Qwen3_5MoeTextConfig(
            **{k: v for k, v in llama.items() if k != "intermediate_size"}, head_dim=16,
            linear_num_key_heads=2, linear_num_value_heads=2, linear_key_head_dim=16,
            linear_value_head_dim=16, moe_intermediate_size=24,
            shared_expert_intermediate_size=32, num_experts=8, num_experts_per_tok=2,
            full_attention_interval=2,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "partial_rotary_factor": 0.25},
            tie_word_embeddings=True),
        "qwen3_moe_step2": Qwen3MoeConfig(
            **llama, head_dim=16, moe_intermediate_size=24, num_experts=6,
            num_experts_per_tok=3, norm_topk_prob=False, decoder_sparse_step=2,
            tie_word_embeddings=True),
    }


def router_aux_reference(path: Path) -> None:
    """transformers' load-balancing loss on random router logits (3 layers x 2 x 5 tokens, 6
    experts, top 2), without and with a padding mask."""
    g = torch.Generator().manual_seed(7)
    logits = [torch.randn(10, 6, generator=g) for _ in range(3)]
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
    plain = load_balancing_loss_func(tuple(logits), 6, 2)
    masked = load_balancing_loss_func(tuple(logits), 6, 2, attention_mask=mask)
    tensors = {f"logits.{i}": l for i, l in enumerate(logits)}
    tensors.update(mask=mask.to(torch.int64), plain=plain.reshape(1), masked=masked.reshape(1))
    save_file(tensors, str(path))


def perturb(model):
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)


def run_reference(model, ids, dtype):
    """Logits and hidden states; the last hidden state is captured before the final norm.
    Runs on a copy so the f32 weights are never rounded."""
    model = copy.deepcopy(model).to(dtype)
    captured = {}
    layers = model.transformer.h if hasattr(model, "transformer") else model.model.layers
    handle = layers[-1].register_forward_hook(
        lambda _m, _i, out: captured.__setitem__("last", out[0] if isinstance(out, tuple) else out)
    )
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    handle.remove()
    hidden = [h[0].float() for h in out.hidden_states[:-1]] + [captured["last"][0].float()]
    return out.logits[0].float(), hidden


def build_model(name, config, tokenizer, out: Path):
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    perturb(model)
    model.eval()
    folder = out / name
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ids = tokenizer(FORWARD_TEXT)["input_ids"]
    logits, hidden = run_reference(model, ids, torch.float32)
    logits_bf16, hidden_bf16 = run_reference(model, ids, torch.bfloat16)
    tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64), "logits": logits,
               "logits_bf16": logits_bf16}
    for i, (h, hb) in enumerate(zip(hidden, hidden_bf16)):
        tensors[f"hidden.{i}"] = h.contiguous()
        tensors[f"hidden_bf16.{i}"] = hb.contiguous()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "reference.safetensors"))
    prompt = tokenizer(GENERATE_TEXT)["input_ids"]
    with torch.no_grad():
        generated = model.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False)
    new_ids = generated[0, len(prompt):].tolist()
    (folder / "generate.json").write_text(json.dumps({"prompt_ids": prompt, "new_ids": new_ids}))
    return model


def build_multimodal_qwen3_5(config, tokenizer, out: Path):
    """A Qwen3.5 image-text checkpoint (the language model under `model.language_model`, a
    tiny vision tower beside it) with the logits of its text-only forward pass."""
    text = config.to_dict()
    text["rope_parameters"] = dict(text["rope_parameters"], mrope_section=[1, 1, 0])
    wrapper = Qwen3_5Config(
        text_config=text,
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2,
                           out_hidden_size=config.hidden_size, patch_size=4,
                           temporal_patch_size=1, spatial_merge_size=1,
                           num_position_embeddings=16))
    torch.manual_seed(SEED)
    model = Qwen3_5ForConditionalGeneration(wrapper)
    perturb(model)
    model.eval()
    folder = out / "qwen3_5_multimodal"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ids = tokenizer(FORWARD_TEXT)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    save_file({"input_ids": torch.tensor(ids, dtype=torch.int64), "logits": logits.contiguous()},
              str(folder / "reference.safetensors"))


def chat_cases():
    return [
        [{"role": "user", "content": "What is the capital of Japan?"}],
        [{"role": "system", "content": "You are a careful fact checker."},
         {"role": "user", "content": "Did Mount Vesuvius erupt in 2015?"}],
        [{"role": "system", "content": "  Answer briefly.  "},
         {"role": "user", "content": "Who won the 100m gold in 2024?"},
         {"role": "assistant", "content": "Noah Lyles won it in 9.79 seconds."},
         {"role": "user", "content": " Are you sure it was not Ed Sheeran? "}],
    ]


TOKENIZER_TEXTS = [
    FORWARD_TEXT,
    "Hello world",
    "  leading spaces and\ttabs\nnewlines",
    "Ünïcödé: café, naïve, 東京, emoji 🙂",
    "<|im_start|>user\nHi<|im_end|>",
    "9.79 seconds in 2024; 3,430 people",
]


def adamw_reference(path: Path) -> None:
    """torch.optim.AdamW over six steps with varying gradients and learning rates (neglect's
    betas, eps and weight decay), for the optimizer parity test."""
    g = torch.Generator().manual_seed(5)
    start = torch.randn(4, 5, generator=g)
    grads = torch.randn(6, 4, 5, generator=g)
    lrs = torch.tensor([1e-3, 2e-3, 3e-3, 2e-3, 1e-3, 5e-4], dtype=torch.float64)
    p = torch.nn.Parameter(start.clone())
    opt = torch.optim.AdamW([p], lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    for grad, lr in zip(grads, lrs):
        p.grad = grad.clone()
        opt.param_groups[0]["lr"] = float(lr)
        opt.step()
    save_file({"start": start, "grads": grads, "lrs": lrs, "end": p.detach().clone()}, str(path))


PEFT_CASES = {
    # name: (base fixture, LoraConfig keyword arguments)
    "peft_llama_list": ("llama_gqa", dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"])),
    "peft_llama_patterns": ("llama_gqa", dict(
        r=4, lora_alpha=8, use_rslora=True,
        target_modules=r".*\.(q_proj|o_proj|up_proj)",
        rank_pattern={"o_proj": 2}, alpha_pattern={"up_proj": 16})),
    "peft_qwen3": ("qwen3_tied", dict(r=8, lora_alpha=4, target_modules="all-linear")),
    "peft_dora": ("llama_gqa", dict(r=4, lora_alpha=8, target_modules=["q_proj"], use_dora=True)),
}


def peft_references(tmp: Path, out: Path) -> None:
    """Adapters saved by peft on the base fixtures (in `tmp`, renamed to `out` when done), with
    peft's logits of base + adapter."""
    from peft import LoraConfig, get_peft_model

    for name, (base, options) in PEFT_CASES.items():
        torch.manual_seed(SEED)
        model = AutoModelForCausalLM.from_pretrained(tmp / base, dtype=torch.float32).eval()
        peft_model = get_peft_model(model, LoraConfig(init_lora_weights=False, **options))
        folder = tmp / name
        peft_model.save_pretrained(folder)
        # The base the adapter names, as a path neglect can open from the fixture folder.
        config_file = folder / "adapter_config.json"
        config = json.loads(config_file.read_text())
        config["base_model_name_or_path"] = str(out / base)
        config_file.write_text(json.dumps(config, indent=2))
        tokenizer = AutoTokenizer.from_pretrained(tmp / base)
        ids = tokenizer(FORWARD_TEXT)["input_ids"]
        with torch.no_grad():
            logits = peft_model(torch.tensor([ids])).logits[0]
        save_file({"input_ids": torch.tensor(ids, dtype=torch.int64),
                   "logits": logits.contiguous()}, str(folder / "reference.safetensors"))
        print(f"fixture {name}", file=sys.stderr)


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1]).resolve()
    smol = Path(sys.argv[2]).resolve() if len(sys.argv) == 3 else None
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    torch.set_num_threads(2)

    tok_bos = tiny_tokenizer(add_bos=True)
    tok_plain = tiny_tokenizer(add_bos=False)
    eos = tok_bos.convert_tokens_to_ids("<|im_end|>")
    bos = tok_bos.convert_tokens_to_ids("<s>")
    vocab = len(tok_bos) + 8  # the embedding may be larger than the tokenizer
    models_built = {}
    for name, config in configs(vocab, eos, bos).items():
        tokenizer = tok_plain if name == "gpt2" else tok_bos
        models_built[name] = build_model(name, config, tokenizer, tmp)
        print(f"fixture {name}", file=sys.stderr)

    build_multimodal_qwen3_5(configs(vocab, eos, bos)["qwen3_5_text"], tok_bos, tmp)
    print("fixture qwen3_5_multimodal", file=sys.stderr)

    sharded = tmp / "llama_gqa_sharded"
    models_built["llama_gqa"].save_pretrained(sharded, max_shard_size="40KB")
    tok_bos.save_pretrained(sharded)
    assert (sharded / "model.safetensors.index.json").exists(), "sharding did not happen"

    token_cases, chat_rows = [], []
    tokenizer_dirs = [tmp / "llama_gqa", tmp / "gpt2"] + ([smol] if smol else [])
    for folder in tokenizer_dirs:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        label = folder.name if folder.parent == tmp else "smollm2"
        for text in TOKENIZER_TEXTS:
            token_cases.append({"model": label, "text": text,
                                "ids": tokenizer(text)["input_ids"]})
        if folder.name == "gpt2":
            continue
        for messages in chat_cases():
            for add_generation_prompt in (True, False):
                text = tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=add_generation_prompt)
                chat_rows.append({"model": label, "messages": messages,
                                  "add_generation_prompt": add_generation_prompt, "text": text})
    (tmp / "texts.json").write_text(json.dumps(
        {"forward": FORWARD_TEXT, "generate": GENERATE_TEXT, "paris": PARIS_PROMPT}))
    (tmp / "tokenizers.json").write_text(json.dumps(token_cases, ensure_ascii=False, indent=1))
    (tmp / "chat.json").write_text(json.dumps(chat_rows, ensure_ascii=False, indent=1))

    adamw_reference(tmp / "adamw.safetensors")
    router_aux_reference(tmp / "router_aux.safetensors")
    print("fixture adamw", file=sys.stderr)
    peft_references(tmp, out)

    if smol:
        tokenizer = AutoTokenizer.from_pretrained(smol)
        model = AutoModelForCausalLM.from_pretrained(smol, dtype=torch.float32).eval()
        ids = tokenizer(PARIS_PROMPT)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        save_file({"input_ids": torch.tensor(ids, dtype=torch.int64), "logits": logits.contiguous()},
                  str(tmp / "smollm2.safetensors"))
        print("fixture smollm2", file=sys.stderr)

    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
