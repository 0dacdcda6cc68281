/* config.h — config.json and generation_config.json of Hugging Face model folders
 * (public API in quarry/model.h: qy_lm_config_*, qy_lm_gen_config_*).
 *
 * Field names and defaults follow transformers' configuration classes
 * (GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config, BertConfig), including
 * GPT-2's own names (n_embd, n_layer, n_head, n_positions, n_inner) and both
 * RoPE styles: `rope_theta` at the top level with `rope_scaling`, or
 * `rope_parameters` {rope_type, rope_theta, factor, ...} (transformers 5). */
#ifndef QY_MODEL_CONFIG_H
#define QY_MODEL_CONFIG_H

#include "quarry/base.h"
#include "quarry/model.h"

#endif
