"""Hidden-state norms from forward hooks equal those from output_hidden_states, and hooks are removed."""

import torch

from judgescope.hooks.norms import record_hidden_norms
from judgescope.judges.families import text_decoder


def test_norms_match_output_hidden_states(tiny_model, make_image):
    model, processor = tiny_model("qwen2_5_vl")
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "rate the edit"}]}]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=[make_image(90, 64)], return_tensors="pt")
    with torch.no_grad(), record_hidden_norms(model) as rec:
        out = model(**inputs, output_hidden_states=True)
    # hidden_states[i + 1] is layer i's output, except the last one, which is after the final norm.
    ref = torch.stack([h[0].norm(dim=-1) for h in out.hidden_states[1:-1]])
    assert rec.per_layer.shape == (2, inputs["input_ids"].shape[1])
    assert torch.allclose(rec.per_layer[:-1], ref, rtol=1e-5)
    assert rec.max_over_layers.shape == (inputs["input_ids"].shape[1],)
    # transformers adds its own output-capturing hooks on first use; ours must be gone.
    left = [h for layer in text_decoder(model).layers for h in layer._forward_hooks.values()]
    assert not [h for h in left if "record_hidden_norms" in h.__qualname__]
