/* weights.h — a model's parameters in one f32 block, loaded from and saved to
 * safetensors under Hugging Face names (public API in quarry/model.h:
 * qy_lm_weights_*). */
#ifndef QY_MODEL_WEIGHTS_H
#define QY_MODEL_WEIGHTS_H

#include "quarry/base.h"
#include "quarry/model.h"

#endif
